"""Request and response shapes of the HTTP API, for validation and for the OpenAPI schema.

Lesson summaries are validated by ``policies.wire.parse_summary`` (one item at a time, so one
bad item cannot sink its batch); the ``LessonSummary`` model here only describes them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", strict=True)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class EnrollRequest(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1, max_length=64)
    # chromeos: the browser extension on its own (a Chromebook, docs/browser.md).
    platform: Literal["linux", "windows", "macos", "chromeos"]
    agent_version: str = Field(pattern=r"^[0-9A-Za-z.+-]{1,32}$")
    label: str | None = Field(default=None, max_length=64)
    fingerprint: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class FingerprintKeyRequest(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1, max_length=64)


class FingerprintKeyResponse(BaseModel):
    fingerprint_key: str = Field(pattern=r"^[0-9a-f]{64}$")


class EnrollResponse(BaseModel):
    device_id: str
    token: str
    group: str
    school: str


class Probes(BaseModel):
    model_config = _STRICT
    processes: Literal["ok", "unavailable", "off"] | None = None
    capture_files: Literal["ok", "unavailable", "off"] | None = None
    camera: Literal["ok", "unavailable", "off"] | None = None
    microphone: Literal["ok", "unavailable", "off"] | None = None
    window_title: Literal["ok", "unavailable", "off"] | None = None


class Coverage(BaseModel):
    model_config = _STRICT
    seconds_monitored: int = Field(ge=0)
    samples: int = Field(ge=0)
    gaps: int = Field(ge=0)
    probes: Probes


class Finding(BaseModel):
    model_config = _STRICT
    rule: str
    article: str
    category: str
    family: str
    seconds: int = Field(ge=0)
    episodes: int = Field(ge=0)
    first_minute: int = Field(ge=0)
    buckets: list[int] = Field(description="seconds per 5-minute bucket from started_at")


class LessonSummary(BaseModel):
    """One device's summary of one lesson (policies/wire.py is the validator)."""

    model_config = _STRICT
    report_id: str = Field(description="UUID made on the device")
    lesson_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    started_at: str
    ended_at: str
    agent_version: str
    coverage: Coverage
    findings: list[Finding] = Field(max_length=200)
    dropped: int = Field(default=0, ge=0)


class ReportBatch(BaseModel):
    model_config = _STRICT
    reports: list[LessonSummary] = Field(max_length=500)


class ItemResult(BaseModel):
    report_id: str | None
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str | None


class ReportResults(BaseModel):
    results: list[ItemResult]


class LessonOut(BaseModel):
    id: str
    start: str
    end: str
    remote: bool
    cancelled: bool


class PermissionOut(BaseModel):
    lesson_id: str
    categories: list[str]
    granted_at: str
    withdrawn_at: str | None


class SchoolOut(BaseModel):
    name: str
    timezone: str


class PollSeconds(BaseModel):
    in_lesson: int
    idle: int


class AgentConfigOut(BaseModel):
    device_id: str
    group: str
    audience: Literal["pupil", "staff"]
    school: SchoolOut
    lessons: list[LessonOut]
    permissions: list[PermissionOut]
    policy: dict[str, object]
    policy_digest: str
    poll_seconds: PollSeconds


class CountRow(BaseModel):
    category: str
    devices: int | None = Field(description="null when suppressed as a small count")
    seconds: int | None


class FamilyRow(CountRow):
    family: str


class Bucket(BaseModel):
    start: str
    categories: list[CountRow]


class CoverageOut(BaseModel):
    lesson_seconds: int
    seconds_monitored: int
    devices_missing: int
    devices_with_gaps: int
    gaps: int
    dropped: int
    probes_unavailable: dict[str, int]
    # Stored summaries left out because they no longer parse (frozen reports predate it: 0).
    unreadable: int = 0


class ReportLesson(BaseModel):
    id: str
    group: str
    teacher: str | None
    subject: str | None
    room: str | None
    start: str
    end: str
    remote: bool
    cancelled: bool


class ReportPermission(PermissionOut):
    note: str | None


class LessonReport(BaseModel):
    lesson: ReportLesson
    source: Literal["summaries", "aggregate"]
    devices_expected: int
    devices_reporting: int
    categories: list[CountRow]
    families: list[FamilyRow]
    timeline: list[Bucket]
    coverage: CoverageOut
    permissions: list[ReportPermission]
    suppressed_below: int | None
