"""iCalendar import: time zones, mapping, cancellations, and every kind of bad input."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from service.timetable import (
    ImportRefused,
    InputTooLarge,
    LimitExceeded,
    Limits,
    MalformedInput,
    dates_window,
    import_ical,
    parse_mapping,
    read_bounded,
    school_year,
)
from tests.timetable.helpers import AMSTERDAM, VTIMEZONE_AMSTERDAM, calendar

YEAR = school_year(date(2025, 9, 1), AMSTERDAM)
LESSON = """UID:les-1@school
DTSTART;TZID=Europe/Amsterdam:20250915T083000
DTEND;TZID=Europe/Amsterdam:20250915T092000
SUMMARY:wi - 3B - jdv
LOCATION:217"""


def run(data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"source": "rooster.ics", "tz": AMSTERDAM, "window": YEAR}
    options.update(kwargs)
    return import_ical(data, **options)  # type: ignore[arg-type]


# --- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtstart", "dtend", "expected_utc"),
    [
        # TZID known to the zone database, summer time
        (
            "DTSTART;TZID=Europe/Amsterdam:20250915T083000",
            "DTEND;TZID=Europe/Amsterdam:20250915T092000",
            datetime(2025, 9, 15, 6, 30, tzinfo=UTC),
        ),
        # the same in winter time
        (
            "DTSTART;TZID=Europe/Amsterdam:20251215T083000",
            "DTEND;TZID=Europe/Amsterdam:20251215T092000",
            datetime(2025, 12, 15, 7, 30, tzinfo=UTC),
        ),
        # UTC
        (
            "DTSTART:20250915T063000Z",
            "DTEND:20250915T072000Z",
            datetime(2025, 9, 15, 6, 30, tzinfo=UTC),
        ),
        # floating: the school's zone
        (
            "DTSTART:20250915T083000",
            "DTEND:20250915T092000",
            datetime(2025, 9, 15, 6, 30, tzinfo=UTC),
        ),
        # a Windows zone name, as Outlook exports write it
        (
            "DTSTART;TZID=W. Europe Standard Time:20250915T083000",
            "DTEND;TZID=W. Europe Standard Time:20250915T092000",
            datetime(2025, 9, 15, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_times_are_stored_in_utc(dtstart: str, dtend: str, expected_utc: datetime) -> None:
    """TZID, UTC, floating and Windows-named times all become the right UTC instant."""
    result = run(calendar(f"UID:a\n{dtstart}\n{dtend}"))
    assert [o.start for o in result.occurrences] == [expected_utc]
    assert result.occurrences[0].end - result.occurrences[0].start == timedelta(minutes=50)


def test_vtimezone_with_a_custom_name_is_used() -> None:
    """A VTIMEZONE block under its own TZID gives the offsets it defines."""
    block = VTIMEZONE_AMSTERDAM.replace("TZID:Europe/Amsterdam", "TZID:Schooltijd")
    data = calendar(
        "UID:a\nDTSTART;TZID=Schooltijd:20251215T083000\nDTEND;TZID=Schooltijd:20251215T092000",
        header=block,
    )
    assert [o.start for o in run(data).occurrences] == [datetime(2025, 12, 15, 7, 30, tzinfo=UTC)]


def test_floating_weekly_lessons_keep_their_wall_clock_across_dst() -> None:
    """A floating weekly 08:30 lesson is 08:30 in Amsterdam before and after both changes."""
    data = calendar("UID:w\nDTSTART:20250908T083000\nDTEND:20250908T092000\nRRULE:FREQ=WEEKLY")
    result = run(data)
    local = {o.start.astimezone(AMSTERDAM).strftime("%a %H:%M") for o in result.occurrences}
    assert local == {"Mon 08:30"}
    offsets = {o.start.astimezone(AMSTERDAM).utcoffset() for o in result.occurrences}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}


def test_duration_gives_the_end() -> None:
    """DURATION instead of DTEND gives the end."""
    result = run(calendar("UID:d\nDTSTART:20250915T063000Z\nDURATION:PT45M"))
    assert result.occurrences[0].end == datetime(2025, 9, 15, 7, 15, tzinfo=UTC)


def test_exdate_rdate_and_a_moved_occurrence() -> None:
    """EXDATE drops a week, RDATE adds a day, RECURRENCE-ID moves one occurrence."""
    data = calendar(
        """UID:r
DTSTART;TZID=Europe/Amsterdam:20250901T083000
DTEND;TZID=Europe/Amsterdam:20250901T092000
RRULE:FREQ=WEEKLY;COUNT=3
EXDATE;TZID=Europe/Amsterdam:20250908T083000
RDATE;TZID=Europe/Amsterdam:20250903T100000""",
        """UID:r
RECURRENCE-ID;TZID=Europe/Amsterdam:20250915T083000
DTSTART;TZID=Europe/Amsterdam:20250916T110000
DTEND;TZID=Europe/Amsterdam:20250916T115000""",
    )
    result = run(data)
    starts = [o.start.astimezone(AMSTERDAM).strftime("%m-%d %H:%M") for o in result.occurrences]
    assert starts == ["09-01 08:30", "09-03 10:00", "09-16 11:00"]
    assert result.occurrences[-1].recurrence_id == "20250915T063000Z"


# --- mapping, status, skipped events ----------------------------------------------------------


def test_summary_and_location_map_to_lesson_fields() -> None:
    """A 'vak - klas - docent' SUMMARY and a LOCATION fill subject, group, teacher and room."""
    result = run(calendar(LESSON), mapping=parse_mapping("vak-klas-docent"))
    o = result.occurrences[0]
    assert (o.subject, o.group, o.teacher, o.room) == ("wi", "3B", "jdv", "217")
    assert (o.source, o.uid, o.recurrence_id) == ("rooster.ics", "les-1@school", "")


def test_unmatched_summaries_are_counted_with_examples() -> None:
    """A SUMMARY that does not fit the mapping leaves the fields empty and is reported."""
    data = calendar(LESSON.replace("wi - 3B - jdv", "Mentoruur"))
    result = run(data, mapping=parse_mapping("vak-klas-docent"), default_group="3B")
    assert result.unmatched_counts == {"summary": 1}
    assert result.unmatched == {"summary": ("Mentoruur",)}
    assert result.occurrences[0].group == "3B"
    assert result.occurrences[0].room == "217"


@pytest.mark.parametrize(
    ("extra", "mapping", "cancelled", "remote"),
    [
        ("STATUS:CANCELLED", None, True, False),
        ("STATUS:CONFIRMED", None, False, False),
        ("", {"summary": "subject", "cancelled_markers": ["[x]"]}, False, False),
        ("", {"summary": "subject", "location": "room", "remote_markers": ["217"]}, False, True),
    ],
)
def test_cancelled_and_remote(extra: str, mapping: object, cancelled: bool, remote: bool) -> None:
    """STATUS:CANCELLED and the mapping's markers set the cancelled and remote flags."""
    result = run(calendar(LESSON + ("\n" + extra if extra else "")), mapping=parse_mapping(mapping))  # type: ignore[arg-type]
    assert (result.occurrences[0].cancelled, result.occurrences[0].remote) == (cancelled, remote)


def test_cancelled_marker_is_removed_before_mapping() -> None:
    """Zermelo's '[x]' marks a cancelled lesson and is not part of the subject."""
    data = calendar(LESSON.replace("SUMMARY:wi - 3B - jdv", "SUMMARY:[x] wi - 3B - jdv"))
    mapping = parse_mapping(
        {
            "summary": {"split": " - ", "fields": ["subject", "group", "teacher"]},
            "cancelled_markers": ["[x]"],
        }
    )
    o = run(data, mapping=mapping).occurrences[0]
    assert (o.cancelled, o.subject, o.group) == (True, "wi", "3B")


def test_all_day_and_outside_window_events_are_not_lessons() -> None:
    """All-day events are skipped and counted; events outside the window are not returned."""
    data = calendar(
        LESSON,
        "UID:studiedag\nDTSTART;VALUE=DATE:20251001\nDTEND;VALUE=DATE:20251002",
        "UID:vorig-jaar\nDTSTART:20240915T063000Z\nDTEND:20240915T072000Z",
    )
    result = run(data)
    assert [o.uid for o in result.occurrences] == ["les-1@school"]
    assert result.skipped == {"all_day": 1}


def test_reimport_gives_the_same_keys() -> None:
    """Importing the same file twice yields identical occurrences, so a sync changes nothing."""
    data = calendar(
        LESSON, "UID:w\nDTSTART:20250908T083000\nDTEND:20250908T092000\nRRULE:FREQ=WEEKLY;COUNT=10"
    )
    assert run(data).occurrences == run(data).occurrences


# --- bad input (issue 6, item 8) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world\r\n", "rooster.ics:1: not an iCalendar content line"),
        (b"", "rooster.ics:1: not an iCalendar file"),
        (
            b"BEGIN:VEVENT\r\nEND:VEVENT\r\n",
            "rooster.ics:1: the file must start with BEGIN:VCALENDAR",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n",
            "rooster.ics:2: BEGIN:VEVENT is never closed",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
            "rooster.ics:3: END:VTODO does not close BEGIN:VEVENT of line 2",
        ),
        (
            b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            "rooster.ics:3: a second calendar starts here",
        ),
        (
            b"BEGIN:VCALENDAR\r\nSUMMARY:caf\xe9\r\nEND:VCALENDAR\r\n",
            "rooster.ics:2: byte 0xe9 is not UTF-8",
        ),
        (
            calendar(
                LESSON, "UID:x\nDTSTART:20250915T063000Z\nDTEND:20250915T072000Z\nBROKEN LINE"
            ),
            "rooster.ics:15: not an iCalendar content line",
        ),
    ],
)
def test_malformed_files_name_the_line(data: bytes, message: str) -> None:
    """A file that is not a well-formed calendar is refused with its file name and line."""
    with pytest.raises(MalformedInput) as caught:
        run(data)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            "UID:a\nDTSTART;TZID=Mars/Olympus:20250915T083000\nDTEND;TZID=Mars/Olympus:20250915T092000",
            "DTSTART has the unknown time zone 'Mars/Olympus'",
        ),
        (
            "UID:a\nDTSTART;TZID=Europe/Amsterdam:20250915T083000",
            "the event has no DTEND or DURATION, so it has no end",
        ),
        (
            "UID:a\nDTSTART:20250915T083000Z\nDTEND:20250915T073000Z",
            "DTEND 2025-09-15 07:30:00+00:00 is not after DTSTART",
        ),
        ("UID:a\nDTSTART:20250915T083000Z\nDURATION:-PT1H", "is not a positive length of time"),
        (
            "UID:a\nDTSTART:20250915T083000Z\nDTEND:20250915T093000Z\nDURATION:PT1H",
            "the event has both DTEND and DURATION",
        ),
        (
            "UID:a\nDTSTART:2025091X5T083000\nDTEND:20250915T092000Z",
            "a value could not be read: Wrong datetime format: 2025091X5T083000",
        ),
        (
            "UID:a\nDTSTART:20250915T083000Z\nDTEND:20250915T093000Z\nRRULE:FREQ=SOMETIMES",
            "a value could not be read",
        ),
        ("DTSTART:20250915T083000Z\nDTEND:20250915T093000Z", "the event has no UID"),
        ("UID:a\nDTEND:20250915T093000Z", "the event has no DTSTART"),
        (
            "UID:a\nDTSTART:20250915T083000\nDTEND:20250915T093000Z",
            "DTSTART and DTEND mix a floating time with a time zone",
        ),
        (
            "UID:" + "u" * 300 + "\nDTSTART:20250915T083000Z\nDTEND:20250915T093000Z",
            "the UID is longer than 255 characters",
        ),
    ],
)
def test_bad_events_are_refused_with_line_and_uid(event: str, message: str) -> None:
    """A wrong event refuses the whole import, naming the line of its BEGIN:VEVENT and its UID."""
    with pytest.raises(ImportRefused) as caught:
        run(calendar(LESSON, event))
    problems = caught.value.problems
    assert len(problems) == 1
    assert problems[0].line == 11
    assert message in problems[0].message
    assert "nothing was imported" in str(caught.value)


def test_duplicate_uid_without_recurrence_id_is_a_problem() -> None:
    """Two events sharing a UID, neither a RECURRENCE-ID, cannot both be kept apart."""
    with pytest.raises(ImportRefused, match="2 events share this UID"):
        run(calendar(LESSON, LESSON))


def test_partial_import_keeps_the_good_events_and_lists_the_bad() -> None:
    """Asked for explicitly, an import leaves out the broken events and keeps the rest."""
    bad = "UID:kapot\nDTSTART;TZID=Europe/Amsterdam:20250916T083000"
    result = run(calendar(LESSON, bad), partial=True)
    assert [o.uid for o in result.occurrences] == ["les-1@school"]
    assert [(p.uid, p.line) for p in result.problems] == [("kapot", 11)]


def test_problems_beyond_the_limit_are_counted() -> None:
    """A file full of errors lists the first ones and counts the rest."""
    events = [f"UID:e{i}\nDTSTART:20250915T083000Z" for i in range(8)]
    with pytest.raises(ImportRefused) as caught:
        run(calendar(*events), limits=Limits(max_problems=3))
    assert len(caught.value.problems) == 3
    assert caught.value.more == 5
    assert "and 5 more problems" in str(caught.value)


def test_a_50_mb_file_is_refused_without_being_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A 50 MB file is refused from its size; a stream is read only to just past the limit."""
    big = tmp_path / "rooster.ics"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    limit = Limits().max_bytes
    with pytest.raises(InputTooLarge, match=r"rooster\.ics: the file is larger than"):
        read_bounded(big, limit, "rooster.ics")

    class Counting(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            n = len(buffer)
            buffer[:n] = b"X" * n
            self.served += n
            return n

    stream = Counting()
    with pytest.raises(InputTooLarge):
        read_bounded(stream, limit, "upload.ics")  # type: ignore[arg-type]
    assert stream.served <= limit + 1


def test_bytes_over_the_limit_are_refused_before_parsing() -> None:
    """import_ical itself refuses data over the size limit."""
    with pytest.raises(InputTooLarge):
        run(calendar(LESSON), limits=Limits(max_bytes=100))


def test_an_endless_recurrence_from_decades_ago_expands_only_over_the_window() -> None:
    """A weekly rule without end since 1990 gives just this school year's weeks."""
    data = calendar(
        "UID:eeuwig\nDTSTART;TZID=Europe/Amsterdam:19900101T083000\n"
        "DTEND;TZID=Europe/Amsterdam:19900101T092000\nRRULE:FREQ=WEEKLY"
    )
    result = run(data)
    assert len(result.occurrences) == 52
    assert all(YEAR.start <= o.start < YEAR.end for o in result.occurrences)


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY;INTERVAL=1",
        "FREQ=HOURLY;BYMINUTE=" + ",".join(str(m) for m in range(0, 60, 2)),
        "FREQ=DAILY;BYHOUR=" + ",".join(str(h) for h in range(24)) + ";BYMINUTE=0,10,20,30,40,50",
    ],
)
def test_dense_recurrences_are_refused_before_expanding(rule: str) -> None:
    """A rule that would generate millions of repetitions is refused, naming its UID."""
    data = calendar(f"UID:dicht\nDTSTART:20000901T063000Z\nDTEND:20000901T063001Z\nRRULE:{rule}")
    with pytest.raises(
        ImportRefused, match="over the limit of 1,000,000: give it an UNTIL or COUNT"
    ):
        run(data)


def test_total_expansion_work_is_capped() -> None:
    """Many rules that are each acceptable are refused together when their sum is too much."""
    events = [
        f"UID:d{i}\nDTSTART:19000101T063000Z\nDTEND:19000101T070000Z\nRRULE:FREQ=DAILY"
        for i in range(30)
    ]
    with pytest.raises(LimitExceeded, match="recurrences repeat about"):
        run(calendar(*events))


def test_occurrences_are_capped() -> None:
    """More occurrences in the window than the cap refuses the import."""
    data = calendar("UID:veel\nDTSTART:20250901T063000Z\nDTEND:20250901T070000Z\nRRULE:FREQ=DAILY")
    with pytest.raises(
        LimitExceeded,
        match="up to 334 lessons in the window 2025-08-01 to 2026-08-01, over the limit of 100",
    ):
        run(data, limits=Limits(max_occurrences=100))


def test_the_window_is_capped() -> None:
    """A window of several years is refused: one school year at a time."""
    window = dates_window(date(2020, 1, 1), date(2029, 12, 31), AMSTERDAM)
    with pytest.raises(LimitExceeded, match="longer than 400 days"):
        run(calendar(LESSON), window=window)
