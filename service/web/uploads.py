"""Reading a file upload (``multipart/form-data``) with a size cap, for the timetable pages.

The body is counted as it streams in and refused past the cap before it is held whole; one
file and a few small text fields are accepted, so a hostile form cannot make the collector
spool many parts. A body that does not end with its closing boundary is refused unparsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from python_multipart.multipart import parse_options_header
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from service.errors import BodyTooLarge, InvalidRequest
from service.web.forms import Form, UnsupportedMediaType

MAX_FIELDS = 20
MAX_FIELD_BYTES = 64 * 1024
OVERHEAD = 64 * 1024  # the form's other fields and part headers


class UploadForm(Form):
    """A form's text fields and its one file: ``file(name)`` is ``(file name, bytes)``."""

    def __init__(
        self, fields: Mapping[str, list[str]], files: Mapping[str, tuple[str, bytes]]
    ) -> None:
        super().__init__(fields)
        self.files = files

    def file(self, name: str) -> tuple[str, bytes] | None:
        return self.files.get(name)


async def read_upload(request: Request, limit: int) -> UploadForm:
    """The form with at most one file of at most ``limit`` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data")
    cap = limit + OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge("the file is larger than %(limit)s bytes", limit=format(limit, ","))

    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge("the file is larger than %(limit)s bytes", limit=format(limit, ","))
        chunks.append(chunk)
    body = b"".join(chunks)
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    # A body cut off mid-part would leave the parser's temporary file open: refuse it first.
    if not boundary or not body.rstrip().endswith(b"--" + boundary + b"--"):
        raise InvalidRequest("the upload is incomplete or has no multipart boundary")

    async def whole() -> AsyncIterator[bytes]:
        yield body

    parser = MultiPartParser(
        request.headers,
        whole(),  # type: ignore[arg-type]
        max_files=1,
        max_fields=MAX_FIELDS,
        max_part_size=MAX_FIELD_BYTES,
    )
    try:
        parsed = await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequest(
            "the upload is not a readable form: %(reason)s", reason=exc.message
        ) from None
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    try:
        for name, value in parsed.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                if len(data) > limit:
                    raise BodyTooLarge(
                        "the file is larger than %(limit)s bytes", limit=format(limit, ",")
                    )
                files[name] = (value.filename or "", data)
            elif "\x00" in value:
                raise InvalidRequest("the form contains a NUL character")
            else:
                fields.setdefault(name, []).append(value)
    finally:
        await parsed.close()
    return UploadForm(fields, files)
