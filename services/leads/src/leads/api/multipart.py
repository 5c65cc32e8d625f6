"""A minimal ``multipart/form-data`` reader (RFC 7578) for the CSV upload form.

Starlette's form parser needs ``python-multipart``, which the workspace does not lock;
until it does, the upload form (a file and a few short fields, already bounded by the
upload limit) is split here, and part headers are parsed by the standard library.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import collapse_rfc2231_value

MAX_PARTS = 8


class MalformedMultipart(ValueError):
    """The body does not follow the multipart/form-data syntax; the message says where."""


def _boundary(content_type: str) -> bytes:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MalformedMultipart("multipart content type has no boundary parameter")
    return boundary.encode("latin-1")


def form_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    """The form's fields by name (first occurrence wins): a file's content or a value."""
    delimiter = b"--" + _boundary(content_type)
    pos = body.find(delimiter)
    if pos < 0:
        raise MalformedMultipart("multipart body has no part boundary")
    fields: dict[str, bytes] = {}
    for _ in range(MAX_PARTS + 1):
        pos += len(delimiter)
        if body.startswith(b"--", pos):
            return fields  # the closing delimiter
        line_end = body.find(b"\r\n", pos)
        end = body.find(b"\r\n" + delimiter, pos)
        if line_end < 0 or end < 0:
            raise MalformedMultipart("multipart body is truncated (no closing boundary)")
        start = line_end + 2
        if body.startswith(b"\r\n", start):  # a part without headers
            raw_headers, content_start = b"", start + 2
        else:
            head_end = body.find(b"\r\n\r\n", start, end)
            if head_end < 0:
                raise MalformedMultipart("a multipart part has no blank line after its headers")
            raw_headers, content_start = body[start:head_end], head_end + 4
        name = BytesHeaderParser().parsebytes(raw_headers).get_param(
            "name", header="content-disposition")
        if name is not None:
            fields.setdefault(collapse_rfc2231_value(name), body[content_start:end])
        pos = end + 2
    raise MalformedMultipart(f"multipart body has more than {MAX_PARTS} parts")
