"""Schemathesis against the collector's served OpenAPI schema, over real HTTP on loopback, on
both backends: no 5xx, and no status, content type, header or body outside the schema."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from collector_helpers import Live, live_server
from hypothesis import HealthCheck, given, settings
from reliability_helpers import School
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def live(school: School) -> Iterator[Live]:
    # Fuzzing sends far more requests than a device would: lift the rate limits for the run.
    settings_ = Settings(
        db=school.url,
        purge_interval_seconds=0,
        device_burst=1_000_000,
        enrol_burst=1_000_000,
    )
    with live_server(create_app(settings_)) as server:
        yield server


def credentials_for(path: str, school: School) -> dict[str, str]:
    """A device token on the agent API, an admin's API token on the staff API."""
    if path.startswith("/api/v1/agent/"):
        return {"Authorization": f"Bearer {school.device_tokens[0]}"}
    if path.startswith("/api/v1/lessons/"):
        return {"Authorization": f"Bearer {school.admin_token}"}
    return {}


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_within_its_schema(live: Live, school: School, mode: GenerationMode) -> None:
    """Every generated request, valid or not, gets a documented status, content type, headers
    and body, never a 5xx; each operation is fuzzed with credentials that let it through."""
    api = schemathesis.openapi.from_url(live.url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "GET /healthz",
        "POST /api/v1/agent/enroll",
        "GET /api/v1/agent/config",
        "POST /api/v1/agent/reports",
        "GET /api/v1/lessons/{lesson_id}/report",
    }
    http = requests.Session()
    sent: Counter[str] = Counter()
    with_input = set()
    for operation in operations:
        if any(len(p) for p in (operation.path_parameters, operation.query, operation.body)):
            with_input.add(operation.label)
        elif mode is GenerationMode.NEGATIVE:
            continue  # nothing in the request that could be made invalid

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: Any) -> None:
            sent[case.operation.label] += 1
            case.call_and_validate(
                base_url=live.url,
                session=http,
                headers=credentials_for(case.path, school),
                checks=CHECKS,
                timeout=10,
            )

        fuzz()
    # The runs really happened: every operation with an input got many different requests.
    assert len(with_input) == 3
    assert all(sent[label] >= 10 for label in with_input), sent


def test_healthz_is_bare(live: Live) -> None:
    """/healthz answers 200 with its documented body and needs no credentials."""
    answer = requests.get(live.url + "/healthz", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
