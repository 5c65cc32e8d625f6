"""Personal-data hygiene: phone numbers never reach logs, metric labels or span attributes.

Masking keeps the country calling code and the last two digits so that support staff can
still tell numbers apart in a log line without being able to dial them.
"""

from __future__ import annotations

import re

# A phone-like run: optional +, then 7+ digits possibly separated by spaces, dots, dashes
# or parentheses. Deliberately greedy: over-masking a long id is cheaper than leaking a number.
_PHONE_RUN = r"(?<![\w])\+?\(?\d(?:[\s\-.()]*\d){6,}(?![\w])"
# UUIDs (the platform's ids) are matched first and kept whole: their dash-separated digit
# groups would otherwise look like a phone number.
_UUID = r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
_MASKABLE = re.compile(f"(?P<uuid>{_UUID})|(?P<phone>{_PHONE_RUN})")


def mask_phone(number: str) -> str:
    """Mask a phone number: ``+14155550123`` -> ``+1********23``.

    Works on E.164 and on free-form input; keeps a leading ``+`` and the first digit
    after it (country code start), and the last two digits.
    """
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    if number.lstrip().startswith("+"):
        return "+" + digits[0] + "*" * (len(digits) - 3) + digits[-2:]
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_phones_in_text(text: str) -> str:
    """Mask every phone-like run of digits inside free text (log messages, error strings)."""
    return _MASKABLE.sub(lambda m: m.group(0) if m.group("uuid") else mask_phone(m.group(0)), text)
