"""aiohttp routes of the emulator: ``/bot{token}/{method}`` and ``/file/bot{token}/{path}``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, MultipartReader, web

from .spec import ApiError, UploadedFile, bad_request

if TYPE_CHECKING:
    from .core import Emulator

__all__ = ["create_app", "read_multipart", "read_request"]

_UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
_NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}
_MAX_BODY = 64 * 1024 * 1024


async def read_multipart(
    reader: MultipartReader,
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Split a multipart body into text fields and uploaded files."""
    raw: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            data = await part.read(decode=False)
            files[part.name] = UploadedFile(
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                data=bytes(data),
            )
        else:
            raw[part.name] = await part.text()
    return raw, files


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters of a Bot API request: query string, then JSON / urlencoded / multipart body."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return raw, files
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        raw.update(body)
    elif content_type.startswith("multipart/"):
        fields, files = await read_multipart(await request.multipart())
        raw.update(fields)
    else:
        form = await request.post()
        for key, value in form.items():
            raw[key] = value if isinstance(value, str) else str(value)
    return raw, files


def _json(payload: dict[str, Any], status: int) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda obj: json.dumps(obj))


def create_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator``."""

    def known(token: str) -> bool:
        return token == emulator.token or token in emulator.unmetered_tokens

    async def api(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not known(token):
            return _json(_UNAUTHORIZED, 401)
        try:
            raw, files = await read_request(request)
        except ApiError as err:
            return _json(err.payload(), err.status)
        transport = request.transport

        def client_gone() -> bool:
            return transport is None or transport.is_closing()

        status, payload = await emulator.dispatch(
            request.match_info["method"],
            raw,
            files,
            client_gone=client_gone,
            metered=token == emulator.token,
        )
        if payload.pop("dropped", False) and transport is not None:
            transport.close()  # no answer at all: the client sees the connection go
            return web.Response(status=status)
        redirect = payload.pop("redirect", None)
        if redirect is not None:
            # a broken proxy: back to the same URL, or to an unparsable one quoting the path
            location = (
                str(request.url)
                if redirect == "loop"
                else f"http://[{request.host}{request.path_qs}"
            )
            # the body quotes the location, as many servers' redirect pages do
            return web.Response(
                status=status,
                headers={"Location": location},
                text=f'<a href="{location}">Moved</a>',
                content_type="text/html",
            )
        return _json(payload, status)

    async def file(request: web.Request) -> web.StreamResponse:
        if not known(request.match_info["token"]):
            return _json(_UNAUTHORIZED, 401)
        found = emulator.file_by_path(request.match_info["path"])
        if found is None:
            return _json(_NOT_FOUND, 404)
        data, mime_type = found
        return web.Response(body=data, content_type=mime_type)

    async def not_found(request: web.Request) -> web.Response:
        return _json(_NOT_FOUND, 404)

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_route("*", "/bot{token}/{method}", api)
    app.router.add_route("GET", "/file/bot{token}/{path:.+}", file)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app
