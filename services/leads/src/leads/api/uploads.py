"""Reading an import request: JSON body, multipart CSV upload or a raw ``text/csv`` body,
with the size limit enforced while the body streams in (413 before it is all read)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.types import Message

from common.errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType
from leads.api.schemas import JsonImport, parse_country
from leads.app.imports import Upload
from leads.domain.rows import HeaderError, count_rows, to_ndjson


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the upload limit of {limit} bytes; "
                           "split the file into several imports")


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body stream raises 413 once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return Request(request.scope, receive)


async def read_upload(request: Request, limit: int) -> Upload:
    """The rows of an import request, checked enough to queue them (header, encoding)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = _limited(request, limit)
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json_upload(await body.body())
    if media_type == "multipart/form-data":
        try:
            form = await body.form(max_files=1, max_fields=10, max_part_size=limit)
        except MultiPartException as exc:
            raise Unprocessable(f"malformed multipart body: {exc.message}") from None
        upload, country = form.get("file"), form.get("default_country")
        if not isinstance(upload, UploadFile):
            raise Unprocessable("multipart upload has no file field 'file' (the CSV file)")
        return await _csv_upload(await upload.read(), country if isinstance(country, str) else None)
    if media_type == "text/csv":
        return await _csv_upload(await body.body(), request.query_params.get("default_country"))
    raise UnsupportedMediaType(
        f"unsupported content type '{media_type or 'none'}': send application/json, "
        "multipart/form-data (field 'file') or text/csv")


def _json_upload(raw: bytes) -> Upload:
    try:
        request = JsonImport.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    return Upload("ndjson", to_ndjson(request.leads), len(request.leads), request.default_country)


async def _csv_upload(payload: bytes, default_country: str | None) -> Upload:
    try:
        country = parse_country(default_country.strip() or None) if default_country else None
    except ValueError as exc:
        raise Unprocessable(f"default_country: {exc}") from None
    try:
        total = await asyncio.to_thread(count_rows, "csv", payload)
    except HeaderError as exc:
        raise Unprocessable(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise Unprocessable(f"CSV file is not UTF-8 text: byte 0x{payload[exc.start]:02x} "
                            f"at offset {exc.start}") from None
    if total == 0:
        raise Unprocessable("CSV file has a header but no data rows")
    return Upload("csv", payload, total, country)


def openapi_body() -> dict[str, Any]:
    """OpenAPI description of the three accepted bodies (the route reads the body itself)."""
    csv_form = {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "CSV with a header row; columns phone (required), country, "
                                "timezone, first_name, last_name, postal_code, region; "
                                "other columns become attributes"},
        "default_country": {"type": "string", "description": "ISO 3166-1 alpha-2"}}}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": JsonImport.model_json_schema()},
        "multipart/form-data": {"schema": csv_form},
        "text/csv": {"schema": {"type": "string"}},
    }}}
