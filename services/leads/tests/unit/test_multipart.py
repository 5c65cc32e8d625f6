"""The multipart/form-data reader of the CSV upload form."""

from __future__ import annotations

import httpx
import pytest

from leads.api.multipart import MAX_PARTS, MalformedMultipart, form_fields


def encoded(files: dict[str, tuple[str, bytes, str]], data: dict[str, str]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.read(), request.headers["content-type"]


def test_fields_and_files_are_read_byte_for_byte() -> None:
    csv = b"phone,name\r\n3125550142,\"a\r\nb\"\r\n--not-a-boundary\r\n"
    body, content_type = encoded({"file": ("l.csv", csv, "text/csv")},
                                 {"default_country": "US"})
    assert form_fields(body, content_type) == {"file": csv, "default_country": b"US"}


def test_an_empty_file_and_a_part_without_headers() -> None:
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
            b"\r\n--b\r\n\r\nignored\r\n--b--\r\n")
    assert form_fields(body, "multipart/form-data; boundary=b") == {"file": b""}


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"x", "multipart/form-data", "multipart content type has no boundary parameter"),
    (b"no boundary here", "multipart/form-data; boundary=b", "multipart body has no part boundary"),
    (b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ndata",
     "multipart/form-data; boundary=b", "multipart body is truncated (no closing boundary)"),
    (b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n--b--",
     "multipart/form-data; boundary=b", "a multipart part has no blank line after its headers"),
    (b"".join(b"--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n" % i
              for i in range(MAX_PARTS + 1)) + b"--b--",
     "multipart/form-data; boundary=b", f"multipart body has more than {MAX_PARTS} parts"),
])
def test_a_malformed_body_says_what_is_wrong(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MalformedMultipart) as exc:
        form_fields(body, content_type)
    assert str(exc.value) == message
