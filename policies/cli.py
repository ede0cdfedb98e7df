"""``lessonwatch-policy``: validate the policy (with a school's overrides) and explain it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from policies.errors import PolicyError
from policies.explain import explain_data, render_text
from policies.i18n import translator
from policies.load import load_policy
from policies.model import Lang, Policy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lessonwatch-policy",
        description="Validate and explain the lessonwatch policy (shipped rules plus overrides).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("check", "validate the shipped policy and any override files"),
        ("explain", "print, in plain words, what is checked and what leaves a device"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "--override",
            action="append",
            type=Path,
            default=[],
            metavar="FILE",
            help="a school override file (TOML); may be given more than once, applied in order",
        )
        cmd.add_argument("--lang", choices=("nl", "en"), default="nl")
        if name == "explain":
            cmd.add_argument("--json", action="store_true", help="print the data as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        policy = load_policy(args.override)
    except PolicyError as exc:
        print(f"lessonwatch-policy: {refusal(str(exc), args.lang)}", file=sys.stderr)
        return 1
    if args.command == "check":
        print(check_summary(policy, args.lang))
        return 0
    data = explain_data(policy, args.lang)
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else render_text(data))
    return 0


def refusal(problem: str, lang: Lang) -> str:
    return translator(lang).gettext("policy refused: {problem}").format(problem=problem)


def check_summary(policy: Policy, lang: Lang) -> str:
    """One line per count, each with its own plural: "1 regel", "12 regels"."""
    tr = translator(lang)
    rules, on = len(policy.rules), sum(r.enabled for r in policy.rules)
    families = len(policy.families)
    identifiers = sum(len(f.identifiers) for f in policy.families.values())
    lines = [
        tr.gettext("Policy OK."),
        tr.ngettext("{n} rule", "{n} rules", rules).format(n=rules)
        + " "
        + tr.gettext("({n} on)").format(n=on),
        tr.ngettext("{n} app family", "{n} app families", families).format(n=families),
        tr.ngettext("{n} identifier", "{n} identifiers", identifiers).format(n=identifiers),
        tr.gettext("from {sources}").format(sources=", ".join(policy.sources)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
