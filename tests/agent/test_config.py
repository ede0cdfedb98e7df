"""The collector's config: strict parsing, overrides, and a cache that survives damage."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import ConfigError, Overrides, load_cache, parse_config, save_cache
from tests.agent.helpers import config_body

T0 = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def test_parses_lessons_permissions_and_policy() -> None:
    """A config as docs/api.md shows it parses into lessons, permissions and a compiled policy."""
    body = config_body([("l_1", T0, T0 + timedelta(minutes=50))])
    body["permissions"] = [
        {
            "lesson_id": "l_1",
            "categories": ["social_media"],
            "granted_at": "2026-11-24T08:35:00Z",
            "withdrawn_at": None,
        }
    ]
    config = parse_config(body, '"abc"')
    assert [x.id for x in config.lessons] == ["l_1"]
    assert config.permissions[0].categories == frozenset({"social_media"})
    assert config.compiled.policy.settings.sample_seconds == 15
    assert config.etag == '"abc"'


def test_overrides_win_over_the_policy() -> None:
    """Command-line overrides replace the policy's sampling, grace and upload spread."""
    config = parse_config(
        config_body(),
        None,
        Overrides(sample_seconds=2, grace_seconds=0, upload_delay_max_seconds=1),
    )
    settings = config.compiled.policy.settings
    assert (settings.sample_seconds, settings.grace_seconds, settings.upload_delay_max_seconds) == (
        2,
        0,
        1,
    )


def _broken(change):
    body = config_body([("l_1", T0, T0 + timedelta(minutes=50))])
    change(body)
    return body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not an object", "missing 'lessons'"),
        (_broken(lambda b: b.pop("lessons")), "missing 'lessons'"),
        (_broken(lambda b: b["lessons"][0].update(start="yesterday")), "ISO 8601"),
        (
            _broken(lambda b: b["lessons"][0].update(end="2026-11-24T08:00:00Z")),
            "end must follow start",
        ),
        (_broken(lambda b: b["lessons"][0].update(start="2026-11-24T08:30:00")), "time zone"),
        (_broken(lambda b: b.update(poll_seconds={"in_lesson": 0, "idle": 900})), "out of range"),
        (_broken(lambda b: b.update(poll_seconds={"in_lesson": True, "idle": 900})), "wrong type"),
        (_broken(lambda b: b.update(audience="parent")), "audience"),
        (_broken(lambda b: b["policy"].update(version=99)), "policy refused"),
        (_broken(lambda b: b["policy"].update(extra=1)), "policy refused"),
        (_broken(lambda b: b.update(lessons=[b["lessons"][0]] * 5001)), "at most 5000"),
        (_broken(lambda b: b.update(permissions=[{"lesson_id": "l_1"}])), "missing 'categories'"),
        (_broken(lambda b: b["lessons"][0].update(end="2026-11-25T08:30:00Z")), "at most 12 hours"),
        (_broken(lambda b: b["lessons"][0].update(id="l_1/../../etc")), "not a valid lesson id"),
        (_broken(lambda b: b["lessons"][0].update(id="x" * 65)), "not a valid lesson id"),
    ],
)
def test_malformed_config_is_refused_with_a_reason(body: object, reason: str) -> None:
    """A config that breaks the contract is refused as a whole, with the reason."""
    with pytest.raises(ConfigError, match=reason):
        parse_config(body, None)


def test_cache_round_trip(tmp_path: Path) -> None:
    """The cache holds the exact body and ETag; an offline agent runs on it."""
    body = config_body([("l_1", T0, T0 + timedelta(minutes=50))])
    save_cache(tmp_path / "config.v1.json", body, '"e1"')
    config = load_cache(tmp_path / "config.v1.json")
    assert config is not None and config.etag == '"e1"' and config.body == body
    assert (tmp_path / "config.v1.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "damage",
    [
        b"\x00\xff garbage",
        b'{"etag": null}',
        b'{"etag": null, "body": {"lessons": "no"}}',
        json.dumps({"etag": None, "body": {"x": 1}}).encode()[:10],
    ],
)
def test_damaged_cache_is_moved_aside(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged cache gives a clear log line, is renamed with a timestamp, and nothing crashes."""
    path = tmp_path / "config.v1.json"
    path.write_bytes(damage)
    with caplog.at_level(logging.ERROR):
        assert load_cache(path) is None
    assert not path.exists()
    (moved,) = tmp_path.glob("config.v1.json.corrupt-*")
    assert moved.read_bytes() == damage
    assert "config cache" in caplog.text and "moved aside" in caplog.text


def test_oversized_cache_is_moved_aside(tmp_path: Path) -> None:
    """A cache file far larger than any config is not read into memory."""
    path = tmp_path / "config.v1.json"
    path.write_bytes(b" " * (9 * 1024 * 1024))
    assert load_cache(path) is None
    assert list(tmp_path.glob("config.v1.json.corrupt-*"))
