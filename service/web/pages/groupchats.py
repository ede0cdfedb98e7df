"""Pages of the group-chat register: the list, the form, the school's overview, the CSV.

The overview counts open findings per code and per article and lists the chats that have
them, by group name: never a count per teacher, never an order by how many findings, and no
teacher's name either (a list of names beside findings is a tally per teacher by other means).
Who registered a chat is on the chat's own page and in the register's list and CSV, where a
leader follows one chat up with the teacher who runs it (B.1 holds that teacher to it).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from policies import localtime
from policies.groupchat import (
    ACCOUNTS,
    ALTERNATIVES,
    CODES,
    FIELDS,
    PURPOSES,
    ChatInputError,
    PlatformCatalog,
)
from policies.model import Lang
from policies.wire import parse_time
from service import audit
from service.actors import Actor
from service.groupchats import register as groupchats
from service.models import GroupChat, User
from service.web.i18n import labels, translator
from service.web.pages.common import spreadsheet_cell

_COUNTS = ("pupils_in_class", "pupils_in_chat", "youngest_age")
_MAX_DIGITS = 6  # longer numbers are out of range anyway; validate_chat says so


def chat_from_form(fields: Mapping[str, list[str]]) -> dict[str, Any]:
    """The JSON object ``validate_chat`` reads, from a form's text fields.

    Counts become numbers when they are digits (anything else is passed on for
    ``validate_chat`` to name), the consent checkbox a boolean, purposes a list. Fields the form
    does not have are passed on too, so ``validate_chat`` refuses them.
    """
    raw: dict[str, Any] = {}
    for name, values in fields.items():
        if name == "csrf":
            continue
        if name == "purposes":
            raw[name] = list(values)
            continue
        value = values[0].strip() if values else ""
        if name in _COUNTS:
            raw[name] = int(value) if value.isdigit() and len(value) <= _MAX_DIGITS else value
        elif name == "parental_consent":
            raw[name] = value in ("1", "on", "true")
        else:
            raw[name] = value
        if raw[name] == "":
            raw[name] = None
    raw.setdefault("parental_consent", False)
    raw.setdefault("purposes", None)
    return raw


def choices(catalog: PlatformCatalog, lang: Lang) -> dict[str, Any]:
    t = translator(lang)
    return {
        "platforms": [
            {"id": p.id, "name": p.name, "kind": t(labels.PLATFORM_KINDS[p.kind])} for p in catalog
        ],
        "accounts": [{"id": a, "label": t(labels.CHAT_ACCOUNTS[a])} for a in ACCOUNTS],
        "purposes": [{"id": p, "label": t(labels.CHAT_PURPOSES[p])} for p in PURPOSES],
        "alternatives": [{"id": a, "label": t(labels.CHAT_ALTERNATIVES[a])} for a in ALTERNATIVES],
    }


def form_page(
    catalog: PlatformCatalog,
    lang: Lang,
    *,
    values: Mapping[str, Any] | None = None,
    error: ChatInputError | None = None,
    chat: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The register form, empty, filled with a chat, or with what was sent and its errors."""
    shown: dict[str, Any] = dict.fromkeys(FIELDS, "")
    shown["purposes"] = []
    shown["parental_consent"] = False
    source = values if values is not None else chat
    for field in FIELDS:
        if source is not None and source.get(field) is not None:
            shown[field] = source[field]
    if not isinstance(shown["purposes"], list):
        shown["purposes"] = []
    return {
        "chat": chat,
        "input": shown,
        "errors": error.messages(lang) if error is not None else {},
        **choices(catalog, lang),
    }


def chats_json(
    session: Session,
    rows: list[GroupChat],
    *,
    viewer: User,
    catalog: PlatformCatalog,
    lang: Lang,
) -> list[dict[str, Any]]:
    names = groupchats.owners(session, rows)
    return [
        groupchats.to_json(r, viewer=viewer, owner=names[r.owner_id], catalog=catalog, lang=lang)
        for r in rows
    ]


def register_page(
    session: Session, *, viewer: User, catalog: PlatformCatalog, now: datetime, lang: Lang
) -> dict[str, Any]:
    rows = groupchats.listing(session, viewer=viewer, catalog=catalog, now=now)
    return {
        "whole_school": viewer.role in groupchats.SEES_SCHOOL,
        "chats": chats_json(session, rows, viewer=viewer, catalog=catalog, lang=lang),
    }


def overview_page(
    session: Session, *, viewer: User, catalog: PlatformCatalog, now: datetime, lang: Lang
) -> dict[str, Any]:
    """Open findings of the whole school: counts per code and article, and the chats."""
    school = groupchats.school_for(session, viewer, groupchats.SEES_SCHOOL)
    rows = groupchats.listing(session, viewer=viewer, catalog=catalog, now=now)
    t = translator(lang)
    # A chat has each code at most once, so this counts chats per code.
    per_code = Counter(f["code"] for r in rows for f in r.findings)
    per_article: Counter[tuple[str, str]] = Counter(
        (f["article"], f["severity"]) for r in rows for f in r.findings
    )
    articles = sorted({article for (_, article), _ in CODES.values()})
    closed = catalog.get(school.closed_platform) if school.closed_platform else None
    return {
        "closed_platform": school.closed_platform,
        "closed_platform_name": closed.name if closed else school.closed_platform,
        "chats": len(rows),
        "chats_with_violations": sum(
            any(f["severity"] == "violation" for f in r.findings) for r in rows
        ),
        "chats_with_warnings": sum(
            any(f["severity"] == "warning" for f in r.findings) for r in rows
        ),
        "codes": [
            {
                "code": code,
                "article": article,
                "severity": severity,
                "label": t(labels.CHAT_FINDINGS[code]),
                "chats": per_code[code],
            }
            for code, ((_, article), severity) in CODES.items()
        ],
        "articles": [
            {
                "article": a,
                "violations": per_article[(a, "violation")],
                "warnings": per_article[(a, "warning")],
            }
            for a in articles
        ],
        "flagged": [
            {k: v for k, v in c.items() if k != "owner"}
            for c in chats_json(session, rows, viewer=viewer, catalog=catalog, lang=lang)
            if c["findings"]
        ],
    }


CSV_COLUMNS = (
    "id",
    *FIELDS,
    "owner",
    "updated_at",
    "checked_at",
    "violations",
    "warnings",
    "codes",
    "articles",
)


def export_csv(session: Session, *, viewer: User, catalog: PlatformCatalog, now: datetime) -> bytes:
    """The school's register with each chat's findings, one row per chat (leaders, admins)."""
    school = groupchats.school_for(session, viewer, groupchats.SEES_SCHOOL)
    rows = groupchats.listing(session, viewer=viewer, catalog=catalog, now=now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    tz = localtime.zone(school.timezone)

    def local(at: str) -> str:
        return localtime.iso(parse_time(at, "time"), tz)

    for chat in chats_json(session, rows, viewer=viewer, catalog=catalog, lang="en"):
        writer.writerow(
            [
                chat["id"],
                spreadsheet_cell(chat["group"]),
                chat["platform"],
                chat["account"],
                ";".join(chat["purposes"]),
                chat["pupils_in_class"],
                chat["pupils_in_chat"],
                chat["youngest_age"],
                "yes" if chat["parental_consent"] else "no",
                chat["alternative"],
                spreadsheet_cell(chat["owner"]),
                # Local with the offset (a person opens this file); the JSON keeps UTC.
                local(chat["updated_at"]),
                local(chat["checked_at"]),
                chat["violations"],
                chat["warnings"],
                ";".join(f["code"] for f in chat["findings"]),
                ";".join(sorted({f["article"] for f in chat["findings"]})),
            ]
        )
    audit.record(
        session,
        actor=Actor.of_user(viewer),
        school_id=viewer.school_id,
        action="groupchat.export",
        obj=f"school:{school.id}",
        now=now,
    )
    return out.getvalue().encode("utf-8")


def school_setting(session: Session, *, viewer: User, catalog: PlatformCatalog) -> dict[str, Any]:
    """The closed-platform part of the admin's school settings page."""
    school = groupchats.school_for(session, viewer, ("admin",))
    return {
        "closed_platform": school.closed_platform,
        "closed_platforms": [{"id": p.id, "name": p.name} for p in catalog.closed()],
    }
