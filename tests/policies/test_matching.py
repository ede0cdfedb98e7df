"""Matching observed processes, bundles, packages, titles and domains to app families."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Compiled, DomainSeen, ProcessSeen, WindowSeen, classify
from policies.catalog import (
    COMM_LEN,
    app_bundle_of,
    process_key,
    store_package_of,
    title_segments,
)

P = ProcessSeen

PROCESS_TABLE = [
    # --- Linux comm truncation and exe paths
    (P(name="telegram-deskto", platform="linux"), "telegram"),
    (P(name="telegram-desktop", platform="linux"), "telegram"),
    (P(exe="/usr/bin/telegram-desktop", name="telegram-deskto", platform="linux"), "telegram"),
    (P(name="signal-desktop", platform="linux"), "signal"),
    (P(name="obs", platform="linux"), "obs"),
    (P(name="Discord", exe="/usr/share/discord/Discord", platform="linux"), "discord"),
    (P(name="kooha", platform="linux"), "kooha"),
    (P(name="bwrap", flatpak_id="com.discordapp.Discord", platform="linux"), "discord"),
    (P(name="zapzap", flatpak_id="COM.RTOSTA.ZAPZAP", platform="linux"), "whatsapp"),
    # --- Windows exe names, case and .exe, full paths
    (P(name="Telegram.exe", platform="windows"), "telegram"),
    (P(name="telegram.EXE", platform="windows"), "telegram"),
    (P(exe=r"C:\Users\pupil\AppData\Roaming\Telegram Desktop\Telegram.exe"), "telegram"),
    (P(name="obs64.exe", platform="windows"), "obs"),
    (P(name="DiscordCanary.exe", platform="windows"), "discord"),
    (P(name="SnippingTool.exe", platform="windows"), "snipping_tool"),
    (P(name="GameBar.exe", platform="windows"), "xbox_game_bar"),
    # --- Windows Store package from the WindowsApps path, or given directly
    (
        P(
            exe=r"C:\Program Files\WindowsApps\5319275A.WhatsAppDesktop_2.2587.10.0_x64__"
            r"cv1g1gvanyjgm\WhatsApp.Root.exe",
            platform="windows",
        ),
        "whatsapp",
    ),
    (
        P(
            exe=r"C:\Program Files\WindowsApps\Microsoft.ScreenSketch_11.2409.25.0_x64__"
            r"8wekyb3d8bbwe\SomethingElse.exe",
            platform="windows",
        ),
        "snipping_tool",
    ),
    (P(store_package="microsoft.windowscamera_8wekyb3d8bbwe"), "windows_camera"),
    # --- macOS bundles: bundle id, prefix patterns, .app folder
    (P(bundle_id="ru.keepcoder.Telegram", platform="macos"), "telegram"),
    (P(bundle_id="com.hnc.Discord.helper.Renderer", platform="macos"), "discord"),
    (P(bundle_id="com.techsmith.camtasia2024", platform="macos"), "camtasia"),
    (P(exe="/Applications/OBS.app/Contents/MacOS/OBS", platform="macos"), "obs"),
    (
        P(
            exe="/Applications/Telegram.app/Contents/MacOS/Telegram",
            name="Telegram",
            platform="macos",
        ),
        "telegram",
    ),
    (
        P(
            exe="/Applications/Discord.app/Contents/Frameworks/Discord Helper.app/Contents/MacOS/"
            "Discord Helper",
            platform="macos",
        ),
        "discord",
    ),
    # --- never a substring: these are not the app they contain
    (P(name="jobs", platform="linux"), None),
    (P(name="observer", platform="linux"), None),
    (P(name="obsidian", platform="linux"), None),
    (P(name="probs"), None),
    (P(name="telegram-deskt", platform="linux"), None),  # 14 characters: not a truncation
    (P(name="telegra"), None),
    (P(name="telegram.exe.bak", platform="windows"), None),
    (P(name="discordant.exe", platform="windows"), None),
    (P(bundle_id="com.hnc.Discor", platform="macos"), None),
    (P(bundle_id="xcom.hnc.Discord", platform="macos"), None),
    (P(exe="/opt/notOBS.app.backup/bin/tool", platform="macos"), None),
    (P(exe=r"C:\WindowsApps\nounderscores\x.exe"), None),
    # --- platform scoping: a Linux name on Windows is not the Linux app
    (P(name="cheese.exe", platform="windows"), None),
    (P(name="cheese", platform="linux"), "cheese"),
    # --- nothing known, nothing said
    (P(), None),
    (P(name="", exe=""), None),
    (P(name="bash", exe="/usr/bin/bash", platform="linux"), None),
]


@pytest.mark.parametrize(("seen", "family"), PROCESS_TABLE)
def test_process_matches_family(compiled: Compiled, seen: ProcessSeen, family: str | None) -> None:
    """A process matches exactly the family its identifiers name, or nothing."""
    match = classify(compiled, seen)
    assert (match.family if match else None) == family


TITLE_TABLE = [
    ("WhatsApp - Google Chrome", "whatsapp"),
    ("(3) WhatsApp — Mozilla Firefox", "whatsapp"),
    ("#general | Klas 3B - Discord", "discord"),
    ("Instagram", "instagram"),
    ("Instagram • Photos and videos", "instagram"),
    ("How Instagram changed marketing - Wikipedia", None),
    ("discord.py documentation", None),
    ("Telegram Web", "telegram"),
    ("Telegram", None),  # the hint is "Telegram Web": a bare word is not enough
    ("", None),
]


@pytest.mark.parametrize(("title", "family"), TITLE_TABLE)
def test_browser_title_matches_whole_segment(
    compiled: Compiled, title: str, family: str | None
) -> None:
    """A title hint counts only as a whole title segment of a browser window."""
    assert compiled.index.title(title) == family


def test_window_titles_count_only_when_the_policy_turns_them_on(compiled: Compiled) -> None:
    """The title probe is off by default, so even a browser titled WhatsApp is no match."""
    assert not compiled.policy.settings.window_title_probe
    assert classify(compiled, WindowSeen("WhatsApp - Google Chrome", browser=True)) is None


DOMAIN_TABLE = [
    ("web.whatsapp.com", "whatsapp"),
    ("WEB.WhatsApp.com.", "whatsapp"),
    ("instagram.com", "instagram"),
    ("www.instagram.com", "instagram"),
    ("help.instagram.com", "instagram"),
    ("discord.com:443", "discord"),
    ("notdiscord.com", None),
    ("discord.com.evil.example", None),
    ("whatsapp.com", None),  # only web.whatsapp.com is listed
    ("youtu.be", "youtube"),
    ("", None),
]


@pytest.mark.parametrize(("host", "family"), DOMAIN_TABLE)
def test_domain_matches_host_and_subdomains(
    compiled: Compiled, host: str, family: str | None
) -> None:
    """A domain covers its host and subdomains, never a look-alike."""
    match = classify(compiled, DomainSeen(host))
    assert (match.family if match else None) == family


def test_path_helpers_read_windows_posix_and_bundle_paths() -> None:
    """Paths of either kind reduce to the last component, the .app, or the package family."""
    assert process_key(r"C:\Program Files\OBS\obs64.EXE") == "obs64"
    assert process_key("/usr/bin/obs") == "obs"
    assert app_bundle_of("/Applications/OBS.app/Contents/MacOS/OBS") == "obs"
    assert app_bundle_of("/usr/bin/obs") is None
    assert store_package_of(r"C:\Program Files\WindowsApps\A.B_1.0.0.0_x64__pub\a.exe") == "a.b_pub"
    assert title_segments("(12) Inbox | Site - Browser") == ["inbox", "site", "browser"]


# --- properties ---------------------------------------------------------------------------


def _process_identifiers(compiled: Compiled) -> list[tuple[str, str]]:
    return [
        (ident.value, family.id)
        for family in compiled.policy.families.values()
        for ident in family.identifiers
        if ident.kind in ("exe", "process_name")
    ]


@settings(max_examples=300)
@given(data=st.data())
def test_matching_ignores_case(compiled: Compiled, data: st.DataObject) -> None:
    """Any mix of upper and lower case in an identifier matches the same family."""
    value, family = data.draw(st.sampled_from(_process_identifiers(compiled)))
    flips = data.draw(st.lists(st.booleans(), min_size=len(value), max_size=len(value)))
    mixed = "".join(c.upper() if f else c.lower() for c, f in zip(value, flips, strict=True))
    match = classify(compiled, ProcessSeen(name=mixed))
    assert match is not None and match.family == family


@settings(max_examples=500)
@given(data=st.data())
def test_never_matches_a_strict_substring(compiled: Compiled, data: st.DataObject) -> None:
    """A strict substring of an identifier matches nothing, unless it is itself an identifier
    or the 15-character comm truncation of one."""
    value, _ = data.draw(st.sampled_from(_process_identifiers(compiled)))
    key = process_key(value)
    start = data.draw(st.integers(0, len(key) - 1))
    end = data.draw(st.integers(start + 1, len(key)))
    part = key[start:end]
    if part == key:
        return
    known = {process_key(v) for v, _ in _process_identifiers(compiled)}
    truncation = len(part) == COMM_LEN and any(k.startswith(part) for k in known)
    match = classify(compiled, ProcessSeen(name=part))
    if part not in known and not truncation:
        assert match is None, f"{part!r} (from {value!r}) matched {match}"


@settings(max_examples=300)
@given(name=st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=40))
def test_unknown_names_match_nothing(compiled: Compiled, name: str) -> None:
    """A name that is no identifier (nor a truncation of one) is never classified."""
    key = process_key(name)
    known = {process_key(v) for v, _ in _process_identifiers(compiled)}
    if key in known or (len(key) == COMM_LEN and any(k.startswith(key) for k in known)):
        return
    assert classify(compiled, ProcessSeen(name=name)) is None
