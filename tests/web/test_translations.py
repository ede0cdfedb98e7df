"""The collector's one translation mechanism: the gettext catalog in service/locale.

The catalog itself (compiled, complete, no fuzzy entries, the same placeholders, "je"), that it
holds every msgid the code and the templates use (extracted with Babel as docs/translations.md
does it), that every error is raised with a msgid Babel can find, and then the demo school:
every page as every role, and the error pages 403, 404, 422 and 429, rendered in Dutch, hold no
English sentence of the catalog, keep the navigation and the signed-in user, and count one
device as "1 apparaat".
"""

from __future__ import annotations

import ast
import html
import io
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from service.errors import NotFound
from service.locale import DOMAIN, LOCALE_DIR
from service.models import Device, Lesson, School
from service.web import WebSettings
from service.web.i18n import Translate, labels
from tests.support.clock import FakeClock
from tests.support.databases import DemoDatabase
from tests.support.web import Browser, Demo, signed_in, start_demo

ROOT = Path(__file__).resolve().parents[2]
PO = LOCALE_DIR / "nl" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
BABEL = tomllib.loads((LOCALE_DIR / "babel.toml").read_text())["tool"]["babel"]
# A printf placeholder by name: %(name)s, %(value).40r, %(byte)02x.
PLACEHOLDER = re.compile(r"%\((\w+)\)([-#0 +]*\d*(?:\.\d+)?[sdrx])")


def catalog() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f)


def entries() -> list[Message]:
    return [m for m in catalog() if m.id]


def forms(message: Message) -> list[tuple[str, str]]:
    """Each (msgid, msgstr) pair of a message; a plural pairs msgstr[1:] with msgid_plural."""
    if isinstance(message.id, str):
        return [(message.id, str(message.string))]
    ids, strings = message.id, message.string
    return [(ids[0], strings[0]), *((ids[1], s) for s in strings[1:])]


# --- the catalog ---------------------------------------------------------------------------


def test_the_committed_mo_is_the_compiled_po() -> None:
    """gettext reads the .mo; it must be exactly what compiling the .po gives today."""
    compiled = io.BytesIO()
    write_mo(compiled, catalog(), use_fuzzy=False)
    assert MO.read_bytes() == compiled.getvalue(), "run pybabel compile (docs/translations.md)"


def test_the_dutch_catalog_is_complete_and_nothing_in_it_is_a_guess() -> None:
    """No empty msgstr, no fuzzy entry (a guess pybabel would drop), no obsolete leftovers."""
    cat = catalog()
    assert not cat.fuzzy
    assert not cat.obsolete
    for message in entries():
        assert not message.fuzzy, message.id
        assert all(s for _, s in forms(message)), f"untranslated: {message.id!r}"


def test_each_translation_has_the_placeholders_of_its_msgid() -> None:
    for message in entries():
        for msgid, msgstr in forms(message):
            assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(PLACEHOLDER.findall(msgid)), msgid


def test_no_percent_sign_but_in_a_placeholder() -> None:
    """Templates format every message (new-style gettext), so a lone % would break it."""
    for message in entries():
        for msgid, msgstr in forms(message):
            for text in (msgid, msgstr):
                assert "%" not in PLACEHOLDER.sub("", text), text


def test_dutch_says_je_never_u() -> None:
    formal = re.compile(r"\b(u|uw|U|Uw)\b")
    for message in entries():
        for _, msgstr in forms(message):
            assert not formal.search(msgstr), msgstr


def _extracted() -> set[str | tuple[str, str]]:
    settings = BABEL["extract_messages"]
    with (ROOT / settings["mapping_file"]).open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords: dict[str, object] = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    keywords |= dict.fromkeys(settings["keywords"])
    found: set[str | tuple[str, str]] = set()
    for path in settings["input_paths"]:
        for _, _, message, _, _ in extract_from_dir(
            ROOT / path,
            method_map,
            options_map,
            keywords=keywords,  # type: ignore[arg-type]
        ):
            found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def test_the_catalog_holds_every_msgid_of_the_code_and_the_templates_and_no_other() -> None:
    """Extracted as docs/translations.md does it: a new text without a translation, or a
    translation of a text that is gone, fails here until the catalog is updated."""
    used = _extracted()
    held = {m.id if isinstance(m.id, str) else (m.id[0], m.id[1]) for m in entries()}
    assert used, "nothing extracted: is the mapping in service/locale/babel.cfg right?"
    assert not used - held, f"not in the catalog (pybabel extract/update): {used - held}"
    assert not held - used, f"in the catalog but no longer used: {held - used}"


def _error_classes() -> set[str]:
    """Every class in service/ that derives from ServiceError, TimetableError or OidcError (read
    from the source, so a module nobody imported yet counts too)."""
    bases: dict[str, set[str]] = {}
    for path in (ROOT / "service").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = {b.id for b in node.bases if isinstance(b, ast.Name)}
                names |= {b.attr for b in node.bases if isinstance(b, ast.Attribute)}
                bases.setdefault(node.name, set()).update(names)
    found = {"ServiceError", "TimetableError", "OidcError"}
    while True:
        more = {name for name, parents in bases.items() if parents & found} - found
        if not more:
            return found
        found |= more


# Errors built from a list of problems rather than from one message.
NOT_A_MESSAGE = {"ImportRefused"}


def test_every_error_class_is_an_extraction_keyword() -> None:
    missing = _error_classes() - NOT_A_MESSAGE - set(BABEL["extract_messages"]["keywords"])
    assert not missing, f"add to the keywords in service/locale/babel.toml: {missing}"


# The command line speaks English only; its messages are never shown on a page.
ENGLISH_ONLY = ("service/cli/",)


def _raises() -> Iterator[tuple[str, int, ast.expr]]:
    classes = _error_classes() - NOT_A_MESSAGE
    for path in (ROOT / "service").rglob("*.py"):
        where = str(path.relative_to(ROOT))
        if where.startswith(ENGLISH_ONLY):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in classes
                and node.args
            ):
                yield where, node.lineno, node.args[0]


# A module constant marked for the catalog, ``REVOKED = N_("...")``, or a table of them whose
# first entry is marked, ``_REFUSED: Mapping[...] = {\n    key: N_("..."),``.
MARKED = re.compile(r"^([A-Z_]+)(?::[^=\n]*)? = (?:N_\(|\{\n[^\n]*: N_\()", re.M)


def _marked_constants() -> set[str]:
    found = set()
    for path in (ROOT / "service").rglob("*.py"):
        found |= set(MARKED.findall(path.read_text()))
    return found


def _literal(node: ast.expr, marked: set[str]) -> bool:
    """A string literal, a marked constant, or an entry of a marked table."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Subscript):
        node = node.value
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    return name in marked


def test_every_error_is_raised_with_a_literal_msgid() -> None:
    """An f-string or a variable would reach the page as English: the msgid is the literal, the
    values are its parameters (``NotFound("no lesson %(id)r", id=...)``)."""
    marked = _marked_constants()
    wrong = [f"{where}:{line}" for where, line, first in _raises() if not _literal(first, marked)]
    assert not wrong, wrong


def test_an_error_keeps_its_english_message_and_translates_on_a_page() -> None:
    exc = NotFound("no device %(id)r", id="dev-1")
    assert exc.message == "no device 'dev-1'" and exc.code == "not_found"
    assert Translate("nl").error(exc) == "er is geen apparaat 'dev-1'"
    assert Translate("en").error(exc) == exc.message


def test_counts_use_the_dutch_plural() -> None:
    t = Translate("nl")
    one, many = "%(num)s device did not report", "%(num)s devices did not report"
    assert t.ngettext(one, many, 1) == "1 apparaat rapporteerde niet"
    assert t.ngettext(one, many, 2) == "2 apparaten rapporteerden niet"


@pytest.mark.parametrize(
    "table",
    [labels.ROLES, labels.AUDIT_ACTIONS, labels.LESSON_STATES, labels.CHAT_PURPOSES],
    ids=["roles", "audit actions", "lesson states", "chat purposes"],
)
def test_stored_values_have_dutch_words(table: dict[str, str]) -> None:
    t = Translate("nl")
    for msgid in table.values():
        assert t(msgid) != msgid, msgid


def _texts(node: ast.expr | None, constants: dict[str, str]) -> list[str] | None:
    """The strings an expression can be: a literal, a module constant, either side of an
    ``if``; ``None`` when it is anything else (a value this test cannot read)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.IfExp):
        body, orelse = _texts(node.body, constants), _texts(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_record(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "record"
        and isinstance(func.value, ast.Name)
        and func.value.id == "audit"
    )


def audit_actions(tree: ast.Module) -> tuple[set[str], list[int]]:
    """The actions a module writes with ``audit.record``, followed through a function of the
    module that passes its own parameter on as the action (the group-chat register's
    ``_audit``); and the lines of calls whose action cannot be read."""
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    wrappers: dict[str, tuple[int, str]] = {}  # function -> position and name of its parameter
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
            for call in ast.walk(fn):
                if isinstance(call, ast.Call) and _is_record(call):
                    value = _keyword(call, "action")
                    if isinstance(value, ast.Name) and value.id in params:
                        wrappers[fn.name] = (params.index(value.id), value.id)
    actions: set[str] = set()
    unread: list[int] = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if _is_record(call):
            value = _keyword(call, "action")
            if isinstance(value, ast.Name) and value.id not in constants:
                continue  # a wrapper's parameter: read at the wrapper's calls
        elif name in wrappers:
            position, param = wrappers[name]
            value = call.args[position] if len(call.args) > position else _keyword(call, param)
        else:
            continue
        texts = _texts(value, constants)
        if texts is None:
            unread.append(call.lineno)
        else:
            actions.update(texts)
    return actions, unread


def test_every_audit_action_the_code_writes_has_a_word() -> None:
    """Every action any ``audit.record`` call of the collector can write has a Dutch word in
    ``labels.AUDIT_ACTIONS``, and the test can read each call's action."""
    written: set[str] = set()
    for path in sorted((ROOT / "service").rglob("*.py")):
        actions, unread = audit_actions(ast.parse(path.read_text(), str(path)))
        assert not unread, f"{path.relative_to(ROOT)}: an action this test cannot read: {unread}"
        written |= actions
    assert {
        "signin",
        "report.view",
        "permission.grant",
        "device.erase",
        "user.enable",
        "groupchat.create",
        "audit.export",
    } <= written
    assert not written - set(labels.AUDIT_ACTIONS), written - set(labels.AUDIT_ACTIONS)


# --- the pages in Dutch ----------------------------------------------------------------------


def english_sentences() -> list[str]:
    """The English texts of the catalog that Dutch says differently, cut at the placeholders.
    A text that is the same in both languages (a name, "Export") cannot tell them apart, nor
    can one English word that Dutch uses too ("Register": "Register downloaden (CSV)")."""
    dutch_words = {
        word for message in entries() for _, msgstr in forms(message) for word in msgstr.split()
    }
    out = set()
    for message in entries():
        for msgid, msgstr in forms(message):
            if msgid == msgstr:
                continue
            for part in PLACEHOLDER.split(msgid)[::3]:
                part = part.strip(" .,:;()")
                if len(part) >= 3 and part != msgstr and part not in dutch_words:
                    out.add(part)
    return sorted(out, key=len, reverse=True)


ENGLISH = [re.compile(rf"(?<![\w-]){re.escape(s)}(?![\w-])") for s in english_sentences()]
ATTRIBUTES = re.compile(r'\b(?:title|placeholder|aria-label|data-confirm)="([^"]*)"')
PLURAL_BY_HAND = re.compile(
    r"(?<![\d.,])1 (apparaten|lessen|minuten|dagen|chats|groepschats|regels|samenvattingen|"
    r"tokens|vakantieperioden|bevindingen)\b"
)


def shown_text(page: str) -> str:
    """What a reader sees: the text between the tags, and the texts of title, placeholder,
    aria-label and confirmation attributes."""
    attributes = " ".join(ATTRIBUTES.findall(page))
    text = re.sub(r"<[^>]+>", " ", page) + " " + attributes
    return re.sub(r"\s+", " ", html.unescape(text))


# A reference such as user:leiding or lesson:l_k1KTiN in the audit log names, it does not say.
REFERENCE = re.compile(r"\b[a-z_]+:[^\s:]+")
# Text in <code> is typed, not said: the CSV columns' English names (``teacher``, ``room``) on
# the import page are what an English header holds, in any language of the page.
CODE = re.compile(r"<code>[^<]*</code>")


def assert_dutch(page: str, where: str) -> None:
    text = REFERENCE.sub(" ", shown_text(CODE.sub(" ", page)))
    english = [
        text[max(found.start() - 40, 0) : found.end() + 40]
        for found in (p.search(text) for p in ENGLISH)
        if found
    ]
    assert not english, f"{where}: English on a Dutch page: {english}"
    assert not PLURAL_BY_HAND.search(text), f"{where}: {PLURAL_BY_HAND.search(text)}"
    assert '<html lang="nl">' in page, where


NAV = {
    "teacher": ["Lessen", "Groepschats", "Beleid"],
    "leader": ["Lessen", "Aandacht", "Groepschats", "Beleid"],
    "admin": [
        "Lessen",
        "Aandacht",
        "Groepschats",
        "Apparaten",
        "Inschrijfcodes",
        "Gebruikers",
        "Beleid",
        "Schoolinstellingen",
        "Auditlog",
        "Export",
        "Rooster",
    ],
    "it": ["Inschrijfcodes"],
}
ROLE_WORD = {"teacher": "docent", "leader": "schoolleiding", "admin": "beheerder", "it": "ICT"}


def assert_chrome(page: str, user: str, role: str, where: str) -> None:
    """The signed-in user's name and role, and the navigation of that role."""
    assert f'<span class="who">{user} · {ROLE_WORD[role]}</span>' in page, where
    nav = re.search(r"<header[^>]*>.*?<nav[^>]*>(.*?)</nav>", page, re.S)
    shown = re.findall(r">([^<>]+)</a>", nav.group(1)) if nav else []
    assert shown == NAV[role], where


def page_paths(app: FastAPI) -> list[str]:
    """The GET routes of the pages, read from the app's route table."""

    def walk(routes: list[object], prefix: str) -> Iterator[str]:
        for route in routes:
            if isinstance(route, APIRoute):
                if "GET" in route.methods:
                    yield prefix + route.path
            elif hasattr(route, "original_router"):  # FastAPI's included router
                context = getattr(route, "include_context", None)
                more = getattr(context, "prefix", "")
                yield from walk(route.original_router.routes, prefix + more)

    return sorted(set(walk(list(app.routes), "")))


# Not pages: the JSON API, its documentation, and the hops to the SSO provider.
NOT_PAGES = ("/api/", "/openapi.json", "/docs", "/redoc", "/auth/oidc/", "/health")
USERS = [("devries", "teacher"), ("jansen", "teacher"), ("leiding", "leader"), ("beheer", "admin")]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


def test_every_page_and_error_page_in_dutch(demo_sqlite: Demo) -> None:
    """Every page of the demo school as every role, then the error pages: Dutch only, with the
    navigation and the signed-in user, and one device counted as "1 apparaat"."""
    demo = demo_sqlite
    admin = signed_in(demo, "beheer")
    # An IT account, a registered group chat and a timetable upload, so their pages exist too.
    made = admin.post(
        "/admin/users",
        {"username": "ict", "role": "it", "password": "long enough pw"},
        csrf_from="/admin/users",
    )
    assert made.status_code == 303
    chat = signed_in(demo, "devries").post(
        "/groupchats",
        {
            "group": "3B",
            "platform": "whatsapp",
            "account": "private",
            "purposes": "homework",
            "pupils_in_class": "28",
            "pupils_in_chat": "20",
            "youngest_age": "12",
            "alternative": "none",
        },
        csrf_from="/groupchats/new",
    )
    assert chat.status_code == 303
    upload = admin.post(
        "/admin/timetable/import",
        {"source": "", "group": "", "mapping": ""},
        csrf_from="/admin/timetable/import",
        files={
            "file": ("rooster.csv", b"uid,date,start,end,group\nx-1,2026-11-30,08:30,09:20,3B\n")
        },
    )
    assert upload.status_code == 303, upload.text
    # One device left in the lesson's group: its report counts "1 apparaat".
    lesson = demo.school.lesson_in_progress
    with demo.sessions.begin() as s:
        row = s.get_one(Lesson, lesson)
        group = row.group_id
        # Leaders see per-device data, so its page is among the pages too.
        s.get_one(School, row.school_id).disclosure = "pseudonymous"
        keep = s.scalars(select(Device.id).where(Device.group_id == group)).first()
        s.execute(
            update(Device).where(Device.group_id == group, Device.id != keep).values(retired=True)
        )
    ids = {
        "lid": lesson,
        "cid": chat.headers["location"].rsplit("/", 1)[-1],
        "uid": upload.headers["location"].rsplit("/", 1)[-1],
    }
    paths = [fill(p, ids) for p in page_paths(demo.live.app) if not p.startswith(NOT_PAGES)]
    assert "/lessons/{lid}".replace("{lid}", lesson) in paths and "/admin/timetable" in paths

    browsers = {user: (signed_in(demo, user), role) for user, role in USERS}
    ict = Browser(demo.url)
    assert ict.sign_in("ict", "long enough pw").status_code == 303
    browsers["ict"] = (ict, "it")
    shown, viewed_devices = 0, False
    for user, (browser, role) in browsers.items():
        for path in paths:
            answer = browser.get(path)
            if answer.status_code in (301, 302, 303, 307):
                continue
            where = f"{path} as {user} ({answer.status_code})"
            assert answer.status_code in (200, 403, 404), where
            assert_dutch(answer.text, where)
            assert_chrome(answer.text, user, role, where)
            shown += 1
        if role in ("leader", "admin"):
            devices = browser.post(
                f"/lessons/{lesson}/devices", {"reason": "een melding van ouders"}
            )
            # Shown or refused, as the school's disclosure setting says: in Dutch either way.
            assert devices.status_code in (200, 403), devices.text
            assert_dutch(devices.text, f"device view as {user}")
            assert_chrome(devices.text, user, role, f"device view as {user}")
            viewed_devices |= devices.status_code == 200
    assert shown > 60 and viewed_devices

    report = browsers["devries"][0].get(f"/lessons/{lesson}").text
    assert "van 1 apparaat rapporteerde" in shown_text(report)

    # 403: a page not open to the role; 404: an unknown lesson; 422: a form out of range.
    teacher = browsers["devries"][0]
    errors = [
        (teacher.get("/admin/devices"), 403, "devries", "teacher", "niet open voor jouw rol"),
        (
            teacher.get("/lessons/no-such-lesson"),
            404,
            "devries",
            "teacher",
            "er is geen les 'no-such-lesson'",
        ),
        (
            admin.post("/admin/codes", {"group": "3B", "uses": "0", "days": "7"}),
            422,
            "beheer",
            "admin",
            "het veld uses moet een heel getal van 1 tot 100000 zijn",
        ),
    ]
    for answer, status, user, role, dutch in errors:
        where = f"{answer.request.url} ({status})"
        assert answer.status_code == status, where
        assert dutch in shown_text(answer.text), where
        assert_dutch(answer.text, where)
        assert_chrome(answer.text, user, role, where)


def test_the_api_keeps_the_code_and_the_english_message(demo_sqlite: Demo) -> None:
    teacher = signed_in(demo_sqlite, "devries")
    answer = teacher.json("/lessons/no-such-lesson")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {"code": "not_found", "message": "no lesson 'no-such-lesson'"}
    }


@pytest.fixture
def strict_demo(demo_db_sqlite: DemoDatabase, web_clock: FakeClock) -> Iterator[Demo]:
    """The demo school with a sign-in limit of three attempts from one address."""
    web = WebSettings(demo=True, signin_burst=3, signin_per_minute=1)
    yield from start_demo(demo_db_sqlite, web_clock, web)


def test_too_many_sign_ins_give_a_dutch_429_page(strict_demo: Demo) -> None:
    """A signed-in admin who keeps posting the sign-in form is stopped with 429, in Dutch, and
    still sees the navigation and their name; nothing is checked or audited past the limit."""
    admin = signed_in(strict_demo, "beheer")
    wrong = {"username": "nobody", "password": "not it"}
    assert admin.post("/signin", wrong).status_code == 401
    assert admin.post("/signin", wrong).status_code == 401
    answer: requests.Response = admin.post("/signin", wrong)
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 0
    assert "te veel aanmeldpogingen vanaf dit adres" in shown_text(answer.text)
    assert_dutch(answer.text, "429")
    assert_chrome(answer.text, "beheer", "admin", "429")
    fresh = Browser(strict_demo.url)
    assert fresh.sign_in("beheer").status_code == 429
