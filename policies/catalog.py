"""The app catalog as an index: observed identifiers to app families, in constant time.

Matching is exact after normalisation, never by substring: a process ``jobs`` or ``observer``
is not ``obs``. Normalisation handles what operating systems really report:

- case differences (``Telegram.exe`` / ``telegram.exe``) and a ``.exe`` suffix;
- Windows and POSIX paths (only the last component counts);
- Linux's 15-character ``comm`` truncation (``telegram-deskto`` for ``telegram-desktop``):
  a name of exactly 15 characters also matches identifiers it is the truncation of;
- macOS ``.app`` bundles (``/Applications/OBS.app/Contents/MacOS/OBS``);
- Windows Store apps, whose package family name is recovered from a ``WindowsApps`` path;
- bundle ids with a trailing ``*`` (a prefix pattern: Camtasia puts its year in the id);
- domains, which cover the host and its subdomains; a leading ``www.`` is dropped;
- window titles, split into segments at the separators browsers and sites use; a hint must
  equal a whole segment, so an article *about* Instagram is not Instagram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from policies.errors import PolicyError
from policies.model import AppFamily, Identifier, Platform
from policies.observations import ProcessSeen

COMM_LEN = 15  # Linux TASK_COMM_LEN (16) minus the terminating NUL

_PATH_SPLIT = re.compile(r"[\\/]")
_TITLE_SEPARATORS = re.compile(r"\s+[-|•—–·:]\s+|\s*[|•—–·]\s*")
_NOTIFICATION_COUNT = re.compile(r"^\(\d+\+?\)\s*")


class IdentifierConflict(PolicyError):
    """Two app families claim the same (normalised) identifier."""

    def __init__(self, kind: str, value: str, first: str, second: str):
        self.kind, self.value, self.first, self.second = kind, value, first, second
        super().__init__(
            f"{kind} '{value}' is claimed by both '{first}' and '{second}'; an identifier "
            "belongs to one family"
        )


def basename(path: str) -> str:
    return _PATH_SPLIT.split(path.strip())[-1]


def process_key(value: str) -> str:
    name = basename(value).strip().casefold()
    return name[:-4] if name.endswith(".exe") else name


def app_bundle_key(value: str) -> str:
    name = value.strip().casefold()
    return name[:-4] if name.endswith(".app") else name


def app_bundle_of(path: str) -> str | None:
    """The outermost ``X.app`` folder of a macOS executable path, as a key."""
    for part in _PATH_SPLIT.split(path):
        if part.casefold().endswith(".app") and len(part) > 4:
            return app_bundle_key(part)
    return None


def store_package_of(path: str) -> str | None:
    """Package family name ``Name_PublisherId`` from a ``...\\WindowsApps\\<full name>\\`` path.

    A package full name is ``Name_Version_Arch_ResourceId_PublisherId`` (ResourceId usually
    empty, hence the double underscore).
    """
    parts = _PATH_SPLIT.split(path)
    for i, part in enumerate(parts[:-1]):
        if part.casefold() == "windowsapps":
            fields = parts[i + 1].split("_")
            if len(fields) >= 5 and fields[0] and fields[-1]:
                return f"{fields[0]}_{fields[-1]}".casefold()
    return None


def domain_key(value: str) -> str:
    host = value.strip().casefold().rstrip(".")
    host = host.split("/", 1)[0].split(":", 1)[0]
    return host[4:] if host.startswith("www.") else host


def host_suffixes(host: str) -> Iterator[str]:
    """``a.web.whatsapp.com`` -> itself, ``web.whatsapp.com``, ``whatsapp.com``, ``com``."""
    key = domain_key(host)
    labels = key.split(".")
    for i in range(len(labels)):
        yield ".".join(labels[i:])


def title_segments(title: str) -> list[str]:
    segments = [_NOTIFICATION_COUNT.sub("", s).strip() for s in _TITLE_SEPARATORS.split(title)]
    return [s.casefold() for s in segments if s]


def title_key(value: str) -> str:
    return value.strip().casefold()


_PROCESS_KINDS = ("exe", "process_name")


@dataclass
class CatalogIndex:
    """Lookup tables built once per policy; every query is a handful of dict look-ups."""

    processes: dict[str, dict[Platform, str]] = field(default_factory=dict)
    truncated: dict[str, dict[Platform, str]] = field(default_factory=dict)
    exact: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> key -> family
    bundle_prefixes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def build(cls, families: Mapping[str, AppFamily]) -> CatalogIndex:
        index = cls()
        owners: dict[tuple[str, str], str] = {}
        for family in families.values():
            for ident in family.identifiers:
                index._add(family.id, ident, owners)
        return index

    def _add(self, family: str, ident: Identifier, owners: dict[tuple[str, str], str]) -> None:
        kind, group, key = _keyed(ident)
        claimed = owners.setdefault((group, key), family)
        if claimed != family:
            raise IdentifierConflict(kind, ident.value, claimed, family)
        if group == "process":
            self.processes.setdefault(key, {})[ident.platform] = family
            if len(key) > COMM_LEN:
                short = key[:COMM_LEN]
                other = owners.setdefault(("process-truncated", short), family)
                if other != family:
                    raise IdentifierConflict(kind, ident.value, other, family)
                self.truncated.setdefault(short, {})[ident.platform] = family
        elif group == "bundle_id" and key.endswith("*"):
            self.bundle_prefixes.append((key[:-1], family))
        else:
            self.exact.setdefault(group, {})[key] = family

    def _process(self, key: str, platform: Platform | None) -> str | None:
        for table in (self.processes, self.truncated if len(key) == COMM_LEN else None):
            if table is None:
                continue
            hits = table.get(key)
            if hits:
                if platform is None:
                    return next(iter(hits.values()))
                if platform in hits:
                    return hits[platform]
        return None

    def _exact(self, group: str, value: str | None) -> str | None:
        if not value:
            return None
        return self.exact.get(group, {}).get(value)

    def bundle_id(self, value: str) -> str | None:
        key = value.strip().casefold()
        hit = self._exact("bundle_id", key)
        if hit:
            return hit
        # Prefix patterns are a handful (Camtasia, Discord helpers): a short scan is fine.
        return next((fam for prefix, fam in self.bundle_prefixes if key.startswith(prefix)), None)

    def process(self, seen: ProcessSeen) -> str | None:
        """The family of a running process, or None. Strongest identifiers are tried first."""
        if seen.bundle_id and (hit := self.bundle_id(seen.bundle_id)):
            return hit
        for group, value in (
            ("store_package", seen.store_package),
            ("flatpak_id", seen.flatpak_id),
            ("snap_name", seen.snap_name),
        ):
            if value and (hit := self._exact(group, value.strip().casefold())):
                return hit
        for raw in (seen.exe, seen.name):
            if raw and (hit := self._process(process_key(raw), seen.platform)):
                return hit
        if seen.exe:
            if (bundle := app_bundle_of(seen.exe)) and (hit := self._exact("app_bundle", bundle)):
                return hit
            if (pfn := store_package_of(seen.exe)) and (hit := self._exact("store_package", pfn)):
                return hit
        return None

    def title(self, title: str) -> str | None:
        table = self.exact.get("window_title_hint", {})
        return next((table[s] for s in title_segments(title) if s in table), None)

    def domain(self, host: str) -> str | None:
        table = self.exact.get("domain", {})
        return next((table[s] for s in host_suffixes(host) if s in table), None)


def _keyed(ident: Identifier) -> tuple[str, str, str]:
    """(kind, lookup group, normalised key) of one catalog identifier."""
    kind = ident.kind
    if kind in _PROCESS_KINDS:
        return kind, "process", process_key(ident.value)
    if kind == "app_bundle":
        return kind, "app_bundle", app_bundle_key(ident.value)
    if kind == "domain":
        return kind, "domain", domain_key(ident.value)
    if kind == "window_title_hint":
        return kind, "window_title_hint", title_key(ident.value)
    return kind, kind, ident.value.strip().casefold()


def all_identifiers(families: Iterable[AppFamily]) -> Iterator[tuple[str, Identifier]]:
    for family in families:
        for ident in family.identifiers:
            yield family.id, ident
