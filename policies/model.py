"""The protocol as typed, frozen data: categories, rules, app families, capture kinds, settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Lang = Literal["nl", "en"]
LANGS: tuple[Lang, ...] = ("nl", "en")

# Where a rule applies. A pupil device in an on-site lesson is "lesson", in a remote lesson
# "remote_lesson"; staff devices during their own lessons are "staff_work_time"; "group_chat"
# rules are checked against the group-chat register, not against device samples.
Scope = Literal["lesson", "remote_lesson", "staff_work_time", "group_chat"]
SCOPES: tuple[Scope, ...] = ("lesson", "remote_lesson", "staff_work_time", "group_chat")

Severity = Literal["violation", "warning"]
SEVERITIES: tuple[Severity, ...] = ("violation", "warning")

Platform = Literal["windows", "macos", "linux", "browser"]
PLATFORMS: tuple[Platform, ...] = ("windows", "macos", "linux", "browser")

# The identifier kinds an app family may list per platform.
IdentifierKind = Literal[
    "exe",  # executable file name (Windows: with .exe)
    "process_name",  # process name as the OS reports it (Linux comm, macOS process name)
    "app_bundle",  # macOS .app folder name
    "bundle_id",  # macOS/iPadOS bundle identifier; a trailing * makes it a prefix pattern
    "flatpak_id",
    "snap_name",
    "store_package",  # Windows Store package family name
    "window_title_hint",  # a window-title segment, only counted for browser windows
    "domain",  # a host and its subdomains
]
IDENTIFIER_KINDS: tuple[IdentifierKind, ...] = (
    "exe",
    "process_name",
    "app_bundle",
    "bundle_id",
    "flatpak_id",
    "snap_name",
    "store_package",
    "window_title_hint",
    "domain",
)

CaptureKind = Literal["image", "video", "audio"]
CAPTURE_KINDS: tuple[CaptureKind, ...] = ("image", "video", "audio")

Disclosure = Literal["aggregate", "pseudonymous"]
DISCLOSURES: tuple[Disclosure, ...] = ("aggregate", "pseudonymous")


@dataclass(frozen=True)
class Text:
    """A short statement in Dutch and English."""

    nl: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.nl if lang == "nl" else self.en


@dataclass(frozen=True)
class Category:
    id: str
    label: Text


@dataclass(frozen=True)
class Rule:
    id: str
    article: str
    statement: Text
    applies_to: frozenset[Scope]
    categories: frozenset[str]
    permission_lifts: bool
    severity: Severity = "violation"
    enabled: bool = True


@dataclass(frozen=True)
class Identifier:
    platform: Platform
    kind: IdentifierKind
    value: str
    unverified: bool = False


@dataclass(frozen=True)
class AppFamily:
    id: str
    name: str
    category: str
    identifiers: tuple[Identifier, ...]


@dataclass(frozen=True)
class Signal:
    """A device-level signal that is not an app: camera or microphone in use, a capture file.

    Its ``family`` is what a finding carries when no app family can be attributed.
    """

    id: str
    category: str
    label: Text
    trigger: str  # "camera", "microphone", or a capture kind: "image", "video", "audio"


@dataclass(frozen=True)
class Settings:
    sample_seconds: int = 15
    grace_seconds: int = 60
    upload_delay_max_seconds: int = 120
    window_title_probe: bool = False
    # The browser extension on its own shows the pupil the rule's statement when a finding
    # starts during a lesson; off by default, and it sends nothing extra (docs/browser.md).
    browser_reminder: bool = False
    disclosure: Disclosure = "aggregate"
    small_count_threshold: int = 3
    # Camera or microphone held by an app of these categories is no finding: the school's own
    # call tools (Teams, Zoom) use them legitimately in class.
    device_allow_categories: frozenset[str] = frozenset({"video_call"})


@dataclass(frozen=True)
class Policy:
    categories: dict[str, Category]
    rules: tuple[Rule, ...]
    families: dict[str, AppFamily]
    signals: dict[str, Signal]
    capture_extensions: dict[str, CaptureKind]
    settings: Settings
    sources: tuple[str, ...] = field(default=())

    def signal_for(self, trigger: str) -> Signal:
        """The signal raised by a device ("camera", "microphone") or a capture kind."""
        return next(s for s in self.signals.values() if s.trigger == trigger)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)
