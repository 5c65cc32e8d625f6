from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.logging import get_logger, setup_logging
from common.pii import mask_phone, mask_phones_in_text


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("+14155550123", "+1********23"), ("+81312345678", "+8********78"),
     ("090-1234-5678", "*********78"), ("1234", "****")],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_masks_numbers_inside_text_but_keeps_short_numbers() -> None:
    text = "dialing +1 (415) 555-0123 for lead 42 attempt 3, alt 03-1234-5678"
    out = mask_phones_in_text(text)
    assert "555" not in out and "1234-5678" not in out
    assert "lead 42 attempt 3" in out


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_no_e164_number_survives_masking(number: str) -> None:
    out = mask_phones_in_text(f"calling {number} now")
    assert number not in out
    assert number[3:-2] not in out


def test_log_lines_from_structlog_and_stdlib_are_masked(capsys) -> None:
    setup_logging("test", "INFO", json=True)
    stream = io.StringIO()
    logging.getLogger().handlers[0].stream = stream  # type: ignore[attr-defined]
    get_logger("x").info("dial failed", phone="+14155550123")
    logging.getLogger("aiokafka").warning("retry for %s", "+442079460123")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    assert lines[0]["phone"] == "+1********23" and lines[0]["service"] == "test"
    assert "2079460" not in lines[1]["event"]


def test_uuids_are_not_mistaken_for_phone_numbers_but_numbers_beside_them_are_masked() -> None:
    text = "campaign 3b86ccad-1234-5678-9abc-0123456789ab dialed +1 415 555 0123"
    masked = mask_phones_in_text(text)
    assert "3b86ccad-1234-5678-9abc-0123456789ab" in masked
    assert "555 0123" not in masked and masked.endswith("23")
