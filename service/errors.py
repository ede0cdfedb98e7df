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

Every error carries a message id and its parameters, so it can be shown in the reader's
language: the msgid is the English sentence with ``%(name)s`` placeholders, and the parameters
fill them in::

    raise NotFound("no lesson %(id)r", id=lesson_id[:64])

``message`` is that sentence filled in, in English: the JSON API and the CLI answer with it (and
with the stable ``code``); the pages translate ``msgid`` with ``params`` through the catalog in
``service/locale`` (``service.web.i18n.Translate.error``). The msgid is extracted for the catalog
because the classes below are extraction keywords (docs/translations.md), so the first argument
must be a string literal, never an f-string or a variable.
"""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, /, **params: object) -> None:
        self.msgid = message
        self.params: Mapping[str, object] = params
        self.message = message % params if params else message
        super().__init__(self.message)


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

    def __init__(self, message: str, /, *, retry_after: int, **params: object) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after
