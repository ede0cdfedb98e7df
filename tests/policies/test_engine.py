"""The engine's decisions: which rule each observation breaks, in which lesson, at what moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import (
    CaptureFileSeen,
    Compiled,
    DeviceInUse,
    DomainSeen,
    LessonContext,
    Observation,
    Permission,
    ProcessSeen,
    compile_policy,
    evaluate,
    merged_from_texts,
)
from policies.build import build_policy

START = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
END = START + timedelta(minutes=50)
DURING = START + timedelta(minutes=10)
BEFORE = START - timedelta(seconds=1)
AFTER = END  # the end is exclusive

TELEGRAM = ProcessSeen(name="telegram-deskto", platform="linux")
OBS = ProcessSeen(name="obs64.exe", platform="windows")
CAMERA = DeviceInUse("camera")
SCREENSHOT = CaptureFileSeen("/home/pupil/Pictures/Screenshots/Screenshot From 2026.png")
YOUTUBE = DomainSeen("www.youtube.com")


def lesson(
    *, remote: bool = False, cancelled: bool = False, audience: str = "pupil"
) -> LessonContext:
    return LessonContext("l1", START, END, remote=remote, cancelled=cancelled, audience=audience)  # type: ignore[arg-type]


def permitted(*categories: str, lesson_id: str = "l1") -> list[Permission]:
    return [Permission(lesson_id, frozenset(categories), granted_at=START)]


def fired(
    compiled: Compiled,
    seen: Observation,
    context: LessonContext | None,
    permissions: list[Permission],
    now: datetime,
) -> set[str]:
    return {f.rule for f in evaluate(compiled, [seen], context, permissions, now=now)}


@pytest.fixture(scope="module")
def streaming_on() -> Compiled:
    """The shipped policy with the (off by default) video-streaming rule switched on."""
    override = '[rules."a1-video-streaming"]\nenabled = true\n'
    return compile_policy(build_policy(merged_from_texts([("school.toml", override)])))


# Columns: now, remote, permission for the rule's category, expected rules.
# --- A.1 social media: every lesson kind, lifted by a social-media permission
A1_SOCIAL = [
    (DURING, False, False, {"a1-social-media"}),
    (DURING, False, True, set()),
    (DURING, True, False, {"a1-social-media"}),
    (DURING, True, True, set()),
    (BEFORE, False, False, set()),
    (BEFORE, True, True, set()),
    (AFTER, False, False, set()),
    (AFTER, True, False, set()),
]


@pytest.mark.parametrize(("now", "remote", "permission", "expected"), A1_SOCIAL)
def test_a1_social_media(
    compiled: Compiled, now: datetime, remote: bool, permission: bool, expected: set[str]
) -> None:
    """Telegram in a lesson is A.1 unless a social-media permission lifts it; outside, nothing."""
    perms = permitted("social_media") if permission else []
    assert fired(compiled, TELEGRAM, lesson(remote=remote), perms, now) == expected


# --- A.1 recording on site; A.7 in a remote lesson, which no permission lifts
RECORDING = [
    (DURING, False, False, {"a1-recording"}),
    (DURING, False, True, set()),
    (DURING, True, False, {"a7-recording-remote"}),
    (DURING, True, True, {"a7-recording-remote"}),
    (BEFORE, False, False, set()),
    (BEFORE, True, False, set()),
    (AFTER, False, True, set()),
    (AFTER, True, False, set()),
]


@pytest.mark.parametrize(("now", "remote", "permission", "expected"), RECORDING)
def test_screen_recording(
    compiled: Compiled, now: datetime, remote: bool, permission: bool, expected: set[str]
) -> None:
    """OBS is A.1 on site (a recording permission lifts it) and A.7 remote (nothing lifts it)."""
    perms = permitted("screen_recording") if permission else []
    assert fired(compiled, OBS, lesson(remote=remote), perms, now) == expected


CAPTURE_FILE = [
    (DURING, False, False, {"a1-recording"}),
    (DURING, False, True, set()),
    (DURING, True, False, {"a7-recording-remote"}),
    (DURING, True, True, {"a7-recording-remote"}),
    (BEFORE, False, False, set()),
    (AFTER, True, False, set()),
]


@pytest.mark.parametrize(("now", "remote", "permission", "expected"), CAPTURE_FILE)
def test_new_capture_file(
    compiled: Compiled, now: datetime, remote: bool, permission: bool, expected: set[str]
) -> None:
    """A new screenshot file is a recording finding like a recording app."""
    perms = permitted("capture_file") if permission else []
    assert fired(compiled, SCREENSHOT, lesson(remote=remote), perms, now) == expected


CAMERA_IN_USE = [
    (DURING, False, False, {"a1-recording"}),
    (DURING, False, True, set()),
    (DURING, True, False, set()),  # a remote lesson needs the camera for the call
    (DURING, True, True, set()),
    (BEFORE, False, False, set()),
    (AFTER, False, False, set()),
]


@pytest.mark.parametrize(("now", "remote", "permission", "expected"), CAMERA_IN_USE)
def test_camera_in_use(
    compiled: Compiled, now: datetime, remote: bool, permission: bool, expected: set[str]
) -> None:
    """The camera in use counts on site, never in a remote lesson."""
    perms = permitted("camera") if permission else []
    assert fired(compiled, CAMERA, lesson(remote=remote), perms, now) == expected


# --- A.1 video streaming: off by default, then like social media once a school turns it on
STREAMING = [
    (DURING, False, False, set(), {"a1-video-streaming"}),
    (DURING, False, True, set(), set()),
    (DURING, True, False, set(), {"a1-video-streaming"}),
    (DURING, True, True, set(), set()),
    (BEFORE, False, False, set(), set()),
    (AFTER, True, False, set(), set()),
]


@pytest.mark.parametrize(
    ("now", "remote", "permission", "shipped_expected", "on_expected"), STREAMING
)
def test_a1_video_streaming(
    compiled: Compiled,
    streaming_on: Compiled,
    now: datetime,
    remote: bool,
    permission: bool,
    shipped_expected: set[str],
    on_expected: set[str],
) -> None:
    """YouTube is nothing under the shipped policy and A.1 where the school switched it on."""
    perms = permitted("video_streaming") if permission else []
    assert fired(compiled, YOUTUBE, lesson(remote=remote), perms, now) == shipped_expected
    assert fired(streaming_on, YOUTUBE, lesson(remote=remote), perms, now) == on_expected


def test_staff_rule_is_off_by_default_and_applies_only_to_staff(compiled: Compiled) -> None:
    """Staff devices are not checked unless the school switches the staff rule on."""
    assert fired(compiled, TELEGRAM, lesson(audience="staff"), [], DURING) == set()
    on = compile_policy(
        build_policy(
            merged_from_texts([("school.toml", '[rules."c-staff-work-time"]\nenabled = true\n')])
        )
    )
    assert fired(on, TELEGRAM, lesson(audience="staff"), [], DURING) == {"c-staff-work-time"}
    assert fired(on, TELEGRAM, lesson(audience="staff"), permitted("social_media"), DURING) == {
        "c-staff-work-time"
    }
    assert fired(on, TELEGRAM, lesson(), [], DURING) == {"a1-social-media"}


# --- permissions are for one lesson, for the named categories, while not withdrawn
PERMISSION_TABLE = [
    ("another lesson's permission", [Permission("l2", frozenset({"social_media"}), START)], True),
    ("other category", permitted("screen_recording"), True),
    ("granted later", [Permission("l1", frozenset({"social_media"}), DURING + timedelta(1))], True),
    ("withdrawn", [Permission("l1", frozenset({"social_media"}), START, DURING)], True),
    (
        "withdrawn later",
        [Permission("l1", frozenset({"social_media"}), START, DURING + timedelta(minutes=1))],
        False,
    ),
    ("two categories", permitted("screen_recording", "social_media"), False),
]


@pytest.mark.parametrize(
    ("case", "permissions", "finding"), PERMISSION_TABLE, ids=[row[0] for row in PERMISSION_TABLE]
)
def test_permission_lifts_only_its_lesson_and_categories(
    compiled: Compiled, case: str, permissions: list[Permission], finding: bool
) -> None:
    """A permission lifts the named categories for that one lesson, between grant and withdrawal."""
    result = fired(compiled, TELEGRAM, lesson(), permissions, DURING)
    assert (result == {"a1-social-media"}) is finding, case


def test_telegram_windows_and_linux_give_the_a1_finding_of_the_issue(compiled: Compiled) -> None:
    """The issue's example: both Telegram binaries are A.1 social_media for family telegram."""
    for seen in (TELEGRAM, ProcessSeen(name="Telegram.exe", platform="windows")):
        [finding] = evaluate(compiled, [seen], lesson(), [], now=DURING)
        assert (finding.article, finding.category, finding.family) == (
            "A.1",
            "social_media",
            "telegram",
        )


def test_cancelled_lesson_and_no_lesson_give_nothing(compiled: Compiled) -> None:
    """A cancelled lesson is not monitored, and without a lesson nothing is a finding."""
    everything: list[Observation] = [TELEGRAM, OBS, CAMERA, SCREENSHOT]
    assert evaluate(compiled, everything, lesson(cancelled=True), [], now=DURING) == []
    assert evaluate(compiled, everything, None, [], now=DURING) == []


def test_camera_held_by_the_schools_call_tool_is_no_finding(compiled: Compiled) -> None:
    """Teams holding the camera is allowed; OBS holding it is a recording finding for obs."""
    teams = ProcessSeen(name="ms-teams.exe", platform="windows")
    assert evaluate(compiled, [DeviceInUse("camera", holder=teams)], lesson(), now=DURING) == []
    [finding] = evaluate(compiled, [DeviceInUse("microphone", holder=OBS)], lesson(), now=DURING)
    assert (finding.category, finding.family, finding.signal) == ("microphone", "obs", "microphone")


def test_unmatched_and_infrastructure_observations_give_nothing(compiled: Compiled) -> None:
    """Unknown apps, non-capture files and idle OS capture services produce no finding."""
    quiet: list[Observation] = [
        ProcessSeen(name="firefox"),
        ProcessSeen(name="GameBarPresenceWriter.exe", platform="windows"),
        CaptureFileSeen("/home/pupil/Pictures/notes.txt"),
        CaptureFileSeen("/home/pupil/Pictures/.png"),
        DomainSeen("wikipedia.org"),
    ]
    assert evaluate(compiled, quiet, lesson(), now=DURING) == []


def test_findings_are_deduplicated_and_sorted(compiled: Compiled) -> None:
    """Many sightings of the same app in one sample give one finding."""
    result = evaluate(compiled, [TELEGRAM] * 5 + [OBS, OBS], lesson(), now=DURING)
    assert result == sorted(result)
    assert [f.family for f in result] == ["obs", "telegram"]


# --- properties ---------------------------------------------------------------------------

RAW = st.text(min_size=1, max_size=30).filter(lambda s: s.strip())
observations = st.lists(
    st.one_of(
        st.builds(ProcessSeen, name=RAW, exe=RAW),
        st.builds(CaptureFileSeen, path=RAW.map(lambda s: f"/home/pupil/Pictures/{s}.png")),
        st.builds(DomainSeen, host=RAW),
        st.just(TELEGRAM),
        st.just(OBS),
        st.just(CAMERA),
    ),
    max_size=12,
)
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300)
@given(seen=observations, now=moments, remote=st.booleans())
def test_nothing_is_a_finding_outside_a_lesson(
    compiled: Compiled, seen: list[Observation], now: datetime, remote: bool
) -> None:
    """Whatever was observed, a moment outside the lesson window gives no finding."""
    if START <= now < END:
        now = END + (now - START)
    assert evaluate(compiled, seen, lesson(remote=remote), [], now=now) == []


@settings(max_examples=300)
@given(seen=observations, remote=st.booleans())
def test_findings_carry_only_catalog_terms(
    compiled: Compiled, seen: list[Observation], remote: bool
) -> None:
    """Every field of every finding is a rule, article, category, family or signal id of the
    policy, never a raw name, path or host."""
    policy = compiled.policy
    families = set(policy.families) | set(policy.signals)
    for f in evaluate(compiled, seen, lesson(remote=remote), [], now=DURING):
        assert f.rule in {r.id for r in policy.rules}
        assert f.article == policy.rule(f.rule).article
        assert f.category in policy.categories
        assert f.family in families
