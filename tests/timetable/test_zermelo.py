"""Zermelo appointments responses: versions, cancellations, moves, substitutes, bad input."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from service.timetable import (
    ImportRefused,
    InputTooLarge,
    LimitExceeded,
    Limits,
    MalformedInput,
    import_zermelo,
    school_year,
)
from tests.timetable.helpers import AMSTERDAM, FIXTURES

YEAR = school_year(date(2025, 9, 1), AMSTERDAM)
RECORDED = (FIXTURES / "zermelo_appointments.json").read_bytes()


def run(data: bytes, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {"source": "zermelo:school", "window": YEAR}
    options.update(kwargs)
    return import_zermelo(data, **options)  # type: ignore[arg-type]


def response(*appointments: dict[str, Any]) -> bytes:
    return json.dumps(
        {"response": {"status": 200, "message": "", "data": list(appointments)}}
    ).encode()


BASE = {
    "id": 1,
    "appointmentInstance": 10,
    "start": 1758004200,
    "end": 1758007200,
    "type": "lesson",
    "subjects": ["wi"],
    "groups": ["h3b"],
    "teachers": ["jdv"],
    "locations": ["217"],
    "valid": True,
    "cancelled": False,
}


def test_recorded_response() -> None:
    """The recorded response gives each valid lesson once, with its flags."""
    result = run(RECORDED)
    got = {o.uid: o for o in result.occurrences}
    assert sorted(got) == [
        "5101/h3b",
        "5102/h3b",
        "5103/h3b",
        "5104/h3b",
        "5105/h3b",
        "5106/h3a",
        "5106/h3b",
    ]
    assert got["5101/h3b"].start == datetime(2025, 9, 16, 6, 30, tzinfo=UTC)
    assert (got["5101/h3b"].subject, got["5101/h3b"].teacher, got["5101/h3b"].room) == (
        "wi",
        "jdv",
        "217",
    )
    assert got["5102/h3b"].cancelled
    # the moved lesson: only the valid version, at its new time
    assert got["5103/h3b"].start == datetime(2025, 9, 16, 12, 0, tzinfo=UTC)
    assert "moved" in got["5103/h3b"].changes
    assert "substitute" in got["5104/h3b"].changes
    assert got["5104/h3b"].teacher == "vdb"
    assert got["5105/h3b"].remote and got["5105/h3b"].room is None
    assert got["5106/h3a"].room == "gym1, gym2" and got["5106/h3a"].teacher == "pst"
    assert result.skipped == {"superseded": 1, "not_a_lesson": 1, "hidden": 1}


def test_same_keys_as_a_later_version() -> None:
    """A moved lesson keeps its key (appointmentInstance), so a sync updates it in place."""
    before = run(response(BASE)).occurrences[0]
    moved = {
        **BASE,
        "id": 2,
        "start": BASE["start"] + 3600,
        "end": BASE["end"] + 3600,
        "moved": True,
    }
    after = run(response({**BASE, "valid": False}, moved)).occurrences[0]
    assert before.key == after.key and before.start != after.start


def test_default_group_when_the_appointment_has_none() -> None:
    """An appointment without groups takes the default group."""
    result = run(response({**BASE, "groups": []}), default_group="3B")
    assert [(o.uid, o.group) for o in result.occurrences] == [("10/3B", "3B")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": "08:30"}, "data[0] (id 1): 'start' must be a whole number"),
        ({"start": True}, "'start' must be a whole number"),
        ({"end": 1758004200}, "data[0] (id 1): end 2025-09-16 06:30Z is not after start"),
        ({"start": 99999999999}, "'start' 99999999999 is not a time between 2000 and 2100"),
        ({"cancelled": "ja"}, "'cancelled' must be true or false"),
        ({"groups": "h3b"}, "'groups' must be a list of strings"),
        ({"subjects": ["w" * 101]}, "subject 'wwww"),
        ({"appointmentInstance": None, "id": None}, "'id' must be a whole number"),
    ],
)
def test_bad_appointments_are_named(change: dict[str, Any], message: str) -> None:
    """A wrong appointment refuses the import, named by its index and id."""
    with pytest.raises(ImportRefused) as caught:
        run(response({**BASE, **change}))
    assert message in str(caught.value)


def test_an_appointment_that_is_not_an_object() -> None:
    """A list item that is not an object is a problem with its index."""
    with pytest.raises(ImportRefused, match=r"data\[1\]: an appointment must be an object"):
        run(response(BASE, [1, 2]))  # type: ignore[arg-type]


def test_two_valid_versions_of_one_instance() -> None:
    """Two valid versions of one appointment are a problem: which one is the lesson?"""
    with pytest.raises(ImportRefused, match="appointment 10/h3b appears twice as valid"):
        run(response(BASE, {**BASE, "id": 2}))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "zermelo:school:1: not JSON"),
        (b'{"data": []}', 'not a Zermelo response: no "response" object'),
        (
            b'{"response": {"status": 403, "message": "Niet geautoriseerd"}}',
            "Zermelo answered status 403: Niet geautoriseerd",
        ),
        (b'{"response": {"status": 200, "data": {}}}', '"response.data" is not a list'),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_responses(data: bytes, message: str) -> None:
    """A response that is not a Zermelo appointments answer is refused with a reason."""
    with pytest.raises(MalformedInput) as caught:
        run(data)
    assert message in str(caught.value)


def test_limits() -> None:
    """Oversized responses and too many appointments are refused before anything is built."""
    with pytest.raises(InputTooLarge):
        run(RECORDED, limits=Limits(max_bytes=1000))
    with pytest.raises(LimitExceeded, match="more than 3 appointments"):
        run(RECORDED, limits=Limits(max_occurrences=3))


def test_replayed_response_gives_the_same_result() -> None:
    """The same response twice gives identical occurrences: a replay changes nothing."""
    assert run(RECORDED) == run(RECORDED)
