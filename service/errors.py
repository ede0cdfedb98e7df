"""Domain errors with the HTTP status and machine-readable code each one maps to.

    ServiceError                 500 internal_error
    ├── InvalidRequest           422 invalid_request
    │   ├── InvalidJson          400 invalid_json
    │   └── BodyTooLarge         413 body_too_large
    ├── Unauthorized             401 unauthorized
    ├── Forbidden                403 forbidden
    │   └── EnrolmentCodeInvalid 403 enrolment_code_invalid
    ├── NotFound                 404 not_found
    ├── Conflict                 409 conflict
    └── RateLimited              429 rate_limited (carries retry_after seconds)

Use cases raise these; the HTTP layer turns them into ``{"error": {"code", "message"}}`` and the
CLI prints the message and exits non-zero.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    status = 422
    code = "invalid_request"


class InvalidJson(InvalidRequest):
    status = 400
    code = "invalid_json"


class BodyTooLarge(InvalidRequest):
    status = 413
    code = "body_too_large"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class EnrolmentCodeInvalid(Forbidden):
    code = "enrolment_code_invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
