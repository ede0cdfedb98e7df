"""The Jinja2 environments (autoescaping everything), one per language, and the HTML-or-JSON
answer of a page.

Each environment has Jinja2's i18n extension with that language's gettext catalog installed
new-style: ``{{ _("Lessons") }}``, ``{{ _("Week %(week)s", week=n) }}`` and
``{{ ngettext("%(num)s device", "%(num)s devices", n) }}`` translate, fill in and escape the
values. ``labels`` (``service.web.i18n.labels``) holds the msgids of stored values such as roles
and audit actions: ``{{ _(labels.ROLES[user.role]) }}``.

Times reach a template as the JSON's UTC strings; a person reads them through the filters
``moment`` ("2026-12-07 05:24") and ``moment_named`` ("2026-12-07 05:24 CET"), which show them
in the school's zone (``zone`` of the page's chrome) with ``policies.localtime``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from policies import localtime
from policies.model import LANGS, Lang
from policies.wire import parse_time
from service.locale import translations
from service.web.i18n import labels


def _zone(context: Context) -> Any:
    # Pages without a signed-in school (sign-in, errors) name no zone: their times read as UTC,
    # and say so.
    return localtime.zone(context.get("zone"))


@pass_context
def moment(context: Context, value: str) -> str:
    return localtime.moment(parse_time(value, "time"), _zone(context))


@pass_context
def moment_named(context: Context, value: str) -> str:
    return localtime.moment(parse_time(value, "time"), _zone(context), named=True)


def environment(lang: Lang) -> Environment:
    env = Environment(
        loader=PackageLoader("service.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["labels"] = labels
    env.filters.update(moment=moment, moment_named=moment_named)
    return env


def environments() -> dict[Lang, Environment]:
    return {lang: environment(lang) for lang in LANGS}


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def render(
    request: Request,
    env: Environment,
    template: str,
    page: dict[str, Any],
    chrome: dict[str, Any],
    status: int = 200,
) -> Response:
    if wants_json(request):
        return JSONResponse(page, status_code=status)
    html = env.get_template(template).render(page=page, **chrome)
    return HTMLResponse(html, status_code=status)
