"""Reading import rows: CSV line numbers, structural problems, JSON leads."""

from __future__ import annotations

import pytest

from leads.domain.rows import HeaderError, count_rows, csv_rows, ndjson_rows, to_ndjson


def test_csv_rows_carry_their_line_number_in_the_file() -> None:
    payload = (
        "\ufeffPhone,First Name,plan\r\n"       # line 1, BOM and loose header names
        "3125550142,Dana,gold\r\n"              # line 2
        "\r\n"                                  # line 3 (blank: skipped)
        '3125550143,"Multi\nline",silver\r\n'   # lines 4-5
        "3125550144,Eve\r\n"                    # line 6: too few fields
        "3125550145,Ann,x,extra\r\n"            # line 7: too many fields
        "3125550146,Zed,y"                      # line 8, no final newline
    ).encode()
    rows = list(csv_rows(payload))
    assert [r.position for r in rows] == [2, 4, 6, 7, 8]
    assert rows[0].fields == {"phone": "3125550142", "first_name": "Dana", "plan": "gold"}
    assert rows[1].fields == {"phone": "3125550143", "first_name": "Multi\nline",
                              "plan": "silver"}
    assert (rows[2].fields, rows[2].problem) == (None, "row has 2 fields, header has 3")
    assert rows[3].problem == "row has 4 fields, header has 3"
    assert rows[4].fields == {"phone": "3125550146", "first_name": "Zed", "plan": "y"}
    assert count_rows("csv", payload) == 5


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "CSV file is empty: a header row with a 'phone' column is required"),
    (b"name,email\nA,a@x", "CSV header has no 'phone' column (found: name, email)"),
    (b"phone,Phone\n1,2", "CSV header repeats column 'phone'"),
    (b"phone,,x\n1,2,3", "CSV header column 2 is empty"),
])
def test_a_bad_header_is_rejected_with_the_reason(payload: bytes, message: str) -> None:
    with pytest.raises(HeaderError) as exc:
        list(csv_rows(payload))
    assert str(exc.value) == message


def test_csv_that_is_not_utf8_fails_to_decode() -> None:
    with pytest.raises(UnicodeDecodeError):
        count_rows("csv", "phone,name\n3125550142,Jos\u00e9\n".encode("latin-1"))


def test_json_leads_round_trip_through_ndjson_with_their_index() -> None:
    payload = to_ndjson([
        {"phone": 3125550142, "vip": True, "note": None, "score": 1.5},
        "not an object",
        {"phone": "3125550143", "tags": ["a"]},
        {"phone": "3125550144\nx", "nested": {"a": 1}},
    ])
    rows = list(ndjson_rows(payload))
    assert [r.position for r in rows] == [0, 1, 2, 3]
    assert rows[0].fields == {"phone": "3125550142", "vip": "true", "score": "1.5"}
    assert rows[1].problem == "lead must be a JSON object, got string"
    assert rows[2].problem == "field 'tags' must be a string or a number, got array"
    assert rows[3].problem == "field 'nested' must be a string or a number, got object"
    assert list(ndjson_rows(b"")) == []
