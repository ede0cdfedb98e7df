"""The agent API, ``/api/v1/agent/...`` (see docs/api.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from service.api import reports as report_route
from service.api.reports import ReportsEndpoint
from service.api.schemas import (
    AgentConfigOut,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    FingerprintKeyRequest,
    FingerprintKeyResponse,
    ReportBatch,
    ReportResults,
)
from service.devices import agent_config, enrolment
from service.devices import registry as devices
from service.errors import InvalidRequest
from service.http_body import read_json
from service.ratelimit import Limiter
from service.runtime import Runtime, bearer_token, runtime

router = APIRouter(prefix="/api/v1/agent", tags=["agent"])


async def _runtime(request: Request) -> Runtime:
    # An async dependency: FastAPI runs a plain function dependency on a worker thread, a
    # thread hop per request that cost as much as a whole GET /healthz.
    return runtime(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
CodeBody = TypeVar("CodeBody", bound=BaseModel)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def _body_doc(name: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _post_with_body(
    path: str, body: type[BaseModel], answer: type[BaseModel], *errors: int, status: int = 200
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """A POST route whose body the route reads itself, documented under its model's name."""
    return router.post(
        path,
        status_code=status,
        response_model=answer,
        responses=_errors(*errors),
        openapi_extra=_body_doc(body.__name__),
    )


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


# Every device posts here once a lesson; the other agent routes are called at enrolment and on
# config changes. So this is the router's first route (FastAPI tries them in order), served by
# a bare ASGI app (service.api.reports): FastAPI's handling of a route cost this request about a
# quarter of its CPU on the event loop, and Starlette's request and response objects more of
# the same, for two header values and a body (docs/performance.md). The API route after
# it, running the same steps, is what the OpenAPI document describes; a POST never reaches it.
router.routes.append(
    Route(f"{router.prefix}/reports", ReportsEndpoint(), methods=["POST"], include_in_schema=False)
)
_post_with_body("/reports", ReportBatch, ReportResults, 400, 401, 413, 422, 429)(
    report_route.documented
)


@_post_with_body("/enroll", EnrollRequest, EnrollResponse, 400, 403, 413, 422, 429, status=201)
async def enroll(request: Request, rt: RuntimeDep) -> JSONResponse:
    body = await _code_request(request, rt, rt.enrol_limiter, EnrollRequest)

    def work() -> enrolment.Enrolled:
        with rt.sessions.begin() as session:
            return enrolment.enroll(
                session,
                code=body.code,
                platform=body.platform,
                agent_version=body.agent_version,
                label=body.label,
                fingerprint=body.fingerprint,
                now=rt.clock(),
            )

    done = await run_in_threadpool(work)
    payload = {
        "device_id": done.device_id,
        "token": done.token,
        "group": done.group,
        "school": done.school,
    }
    return JSONResponse(payload, status_code=201)


@_post_with_body(
    "/fingerprint-key", FingerprintKeyRequest, FingerprintKeyResponse, 400, 403, 413, 422, 429
)
async def fingerprint_key(request: Request, rt: RuntimeDep) -> JSONResponse:
    """The key of the school a usable enrolment code enrols into, for the device's fingerprint
    (issue 15); the code is not spent, and a code that would not enrol is refused as at
    enrolment."""
    body = await _code_request(request, rt, rt.key_limiter, FingerprintKeyRequest)

    def work() -> str:
        with rt.sessions.begin() as session:
            return enrolment.fingerprint_key(session, code=body.code, now=rt.clock())

    key = await run_in_threadpool(work)
    return JSONResponse({"fingerprint_key": key}, headers={"Cache-Control": "no-store"})


async def _code_request(
    request: Request, rt: Runtime, limiter: Limiter, model: type[CodeBody]
) -> CodeBody:
    """The body of a request made with an enrolment code, within the enrolment's rate limit
    per client address."""
    client = request.client.host if request.client else "unknown"
    rt.limit(limiter, client)
    raw = await read_json(request, rt.settings.max_body_bytes)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest("%(problem)s", problem=first_error(exc)) from None


@router.get(
    "/config",
    response_model=AgentConfigOut,
    responses={
        304: {"description": "Not Modified: the If-None-Match ETag still holds"},
        **_errors(401, 429),
    },
)
async def config(request: Request, rt: RuntimeDep) -> Response:
    token = bearer_token(request)

    def work() -> agent_config.AgentConfig:
        # The token is checked in the config's own transaction, in the database (not in the
        # reports' token cache): a revoked device is refused here at once, in every process.
        with rt.sessions.begin() as session:
            device = devices.device_for_token(session, token)
            rt.limit(rt.device_limiter, device.id)
            devices.touch(session, device, rt.clock())
            return agent_config.build_config(
                session, device=device, settings=rt.settings, now=rt.clock()
            )

    built = await run_in_threadpool(work)
    headers = {"ETag": built.etag, "Cache-Control": "no-cache"}
    if agent_config.etag_matches(request.headers.get("if-none-match"), built.etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(built.body, headers=headers)


# Models referenced only from openapi_extra; create_app adds them to the components.
DOCUMENTED_MODELS = (EnrollRequest, FingerprintKeyRequest, ReportBatch)
