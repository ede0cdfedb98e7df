"""The helper channel's protocol: what may cross it, and that anything else is a ProtocolError."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.channel import (
    BURST,
    MAX_LINE,
    Hello,
    Idle,
    Lines,
    Monitor,
    ProtocolError,
    RateLimit,
    Refused,
    Sample,
    decode,
    default_address,
    encode,
    wire_app,
)
from policies import ProcessSeen

NONCE = "lesson-nonce-0001"
APP = ProcessSeen(name="telegram-desktop", exe="telegram-desktop")


def sample_body(**changes: object) -> bytes:
    body: dict[str, object] = {
        "v": 1, "type": "sample", "lesson": NONCE, "n": 1, "app": {"name": "obs"},
        "app_state": "ok", "title": None, "title_state": "off", "captures": [".png"],
        "capture_state": "ok",
    }  # fmt: skip
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "message",
    [
        Hello(),
        Idle(),
        Refused("not the console user"),
        Monitor(NONCE, 1_790_000_000.0, 15, False, (".jpg", ".png")),
        Sample(NONCE, 7),
        Sample(NONCE, 8, APP, "ok", "WhatsApp - Chromium", "ok", (".mp4", ".png"), "ok"),
        Sample(NONCE, 9, None, "unavailable", None, "unavailable", (), "unavailable"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_every_message_round_trips(message: object) -> None:
    """What one side encodes the other decodes to the same message, on one line."""
    line = encode(message)  # type: ignore[arg-type]
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line[:-1]) == message


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        # -- not JSON, not an object
        (b"", "malformed"),
        (b"{", "malformed"),
        (b"\xff\xfe{}", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"null", "malformed"),
        (b"[" * 3000 + b"]" * 3000, "oversized"),
        (b"[" * 2000 + b"]" * 2000, "malformed"),  # nesting past the recursion limit
        (b"x" * (MAX_LINE + 1), "oversized"),
        # -- version
        (b'{"type": "hello"}', "malformed"),
        (b'{"v": 2, "type": "hello"}', "version"),
        (b'{"v": "1", "type": "hello"}', "version"),
        (b'{"v": true, "type": "hello"}', "version"),
        (b'{"v": 1.0, "type": "hello"}', "version"),
        # -- type and fields
        (b'{"v": 1}', "malformed"),
        (b'{"v": 1, "type": "shell"}', "malformed"),
        (b'{"v": 1, "type": "hello", "extra": 1}', "malformed"),
        (sample_body(n=0), "malformed"),
        (sample_body(n=True), "malformed"),
        (sample_body(n=1.5), "malformed"),
        (sample_body(n=2**60), "malformed"),
        (sample_body(lesson="short"), "malformed"),
        (sample_body(lesson="../../etc/passwd-x"), "malformed"),
        (sample_body(app_state="fine"), "malformed"),
        (sample_body(captures=["Screenshot From 2026.png"]), "malformed"),
        (sample_body(captures=[".PNG"]), "malformed"),
        (sample_body(captures=[".png"] * 65), "malformed"),
        (sample_body(captures=".png"), "malformed"),
        (sample_body(app={"exe": "/home/sanne/bin/telegram"}), "malformed"),
        (sample_body(app={"exe": "C:\\Users\\sanne\\Telegram.exe"}), "malformed"),
        (sample_body(app={"cmdline": "telegram --chat sanne"}), "malformed"),
        (sample_body(app={"name": 5}), "malformed"),
        (sample_body(app={"name": "x" * 257}), "malformed"),
        (sample_body(app=["obs"]), "malformed"),
        (sample_body(title="x" * 513), "malformed"),
        (sample_body(title=7), "malformed"),
        (sample_body(capture_state=None), "malformed"),
        (json.dumps({"v": 1, "type": "monitor", "lesson": NONCE}).encode(), "malformed"),
    ],
)
def test_hostile_lines_are_refused_by_kind(line: bytes, kind: str) -> None:
    """Malformed, oversized and other-version lines raise ProtocolError naming only the kind."""
    with pytest.raises(ProtocolError) as raised:
        decode(line)
    assert raised.value.kind == kind


def test_an_error_says_the_kind_never_the_content() -> None:
    """The exception's text is its kind: logging it cannot leak what the peer sent."""
    with pytest.raises(ProtocolError) as raised:
        decode(sample_body(app={"exe": "/home/sanne/geheim/telegram"}))
    assert str(raised.value) == "malformed"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=MAX_LINE + 64))
def test_decoder_raises_only_protocol_errors_on_bytes(line: bytes) -> None:
    """Whatever bytes arrive, decode returns a message or raises ProtocolError, nothing else."""
    with contextlib.suppress(ProtocolError):
        decode(line)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["v", "type", "lesson", "n", "app", "app_state", "title", "title_state",
                     "captures", "capture_state", "until", "sample_seconds", "titles",
                     "extensions", "reason"]),
    JSONISH, max_size=12,
))  # fmt: skip
def test_decoder_raises_only_protocol_errors_on_near_messages(body: dict[str, object]) -> None:
    """Objects with the right field names and any values: a message or a ProtocolError."""
    try:
        line = json.dumps(body).encode()
    except ValueError:
        return
    with contextlib.suppress(ProtocolError):
        decode(line)


def test_wire_app_keeps_the_base_name_and_the_store_package() -> None:
    """A path with the user's name becomes its base name; a Store path gives its package."""
    seen = ProcessSeen(
        name="Instagram.exe",
        exe="C:\\Program Files\\WindowsApps\\"
        "Facebook.InstagramBeta_42.0.0.0_x64__8xx8rvfyw5nnt\\Instagram.exe",
        platform="windows",
    )
    assert wire_app(seen) == ProcessSeen(
        name="Instagram.exe",
        exe="Instagram.exe",
        store_package="facebook.instagrambeta_8xx8rvfyw5nnt",  # the catalog's key form
        platform="windows",
    )
    home = wire_app(ProcessSeen(name="discord", exe="/home/sanne/.local/bin/Discord"))
    assert home.exe == "Discord" and "sanne" not in repr(home)


def test_lines_split_and_cap() -> None:
    """Lines come out whole across reads; a line longer than the cap is oversized."""
    lines = Lines()
    assert lines.feed(b'{"a"') == []
    assert lines.feed(b':1}\n{"b":2}\n{"c"') == [b'{"a":1}', b'{"b":2}']
    with pytest.raises(ProtocolError, match="oversized"):
        Lines().feed(b"x" * (MAX_LINE + 1))
    with pytest.raises(ProtocolError, match="oversized"):
        Lines().feed(b"x" * (MAX_LINE + 1) + b"\n")


def test_rate_limit_allows_a_burst_then_the_rate() -> None:
    """Ten lines at once pass, the eleventh is a flood; a second later five more pass."""
    rate = RateLimit()
    for _ in range(int(BURST)):
        rate.take(100.0)
    with pytest.raises(ProtocolError, match="flood"):
        rate.take(100.0)
    rate = RateLimit()
    for _ in range(int(BURST)):
        rate.take(100.0)
    for _ in range(5):
        rate.take(101.0)
    with pytest.raises(ProtocolError, match="flood"):
        rate.take(101.0)


def test_an_oversized_sample_cannot_be_encoded() -> None:
    """The sender is held to the same cap as the receiver."""
    big = Sample(NONCE, 1, ProcessSeen(name="é" * 256, exe="é" * 256, bundle_id="é" * 256), "ok",
                 "é" * 512, "ok", (), "ok")  # fmt: skip
    with pytest.raises(ProtocolError, match="oversized"):
        encode(big)


@pytest.mark.parametrize(
    ("platform", "address"),
    [
        ("linux", "/run/lessonwatch-agent/helper.sock"),
        ("darwin", "/Library/Application Support/lessonwatch/run/helper.sock"),
        ("win32", "\\\\.\\pipe\\lessonwatch-agent"),
    ],
)
def test_default_addresses(platform: str, address: str) -> None:
    """The channel sits where the packaged services put it (docs/agent.md)."""
    assert default_address(platform) == address
