"""De-identified display of personal fields (GB/T 35273): the one place that
says what a masked 证件号码 or 联系电话 looks like, for list answers
(services/residents, gateway) and for log lines (common.logs).

    mask_cert_no("35050219900101123X") == "350502********123X"   18 characters: first 6, last 4
    mask_cert_no("350502900101123")    == "350502******123"      15 digits (legacy ID): first 6, last 3
    mask_cert_no("E12345678")          == "E*****678"            other documents: at least half hidden
    mask_phone("13812345678")          == "138****5678"          first 3, last 4

The rules, by the value's shape (a failed batch row may name no valid type):

- 18 characters (居民身份证, 港澳台居民居住证, and any other number of that length):
  the division code (6) and the last 4 (sequence and check character) are kept,
  the 8 of the birth date hidden.
- 15 digits (a legacy ID number): the division code and the last 3 (sequence)
  are kept, the 6 of the birth date hidden. Keeping 4 would show a digit of it.
- Anything else (passports, permits, 军官证, a mistyped number): these have no
  division code to keep and are short, so at least half of the characters
  (rounded up) are hidden; of the rest the last up to 3 are kept, then the
  first up to 2.
- 联系电话: the first 3 and the last 4, with at least a third of the characters
  (rounded up) hidden, so a short number (a landline without its area code,
  "123") is never shown whole; the tail is kept before the head.

Every mask has the length of the value (surrounding spaces removed) and is
never the value itself, whatever its length; None and "" are returned as they
are. Masking is idempotent: a masked value masks to itself.
"""
from __future__ import annotations

from typing import overload

STAR = "*"


def _mask(value: str, head: int, tail: int, hidden_at_least: int) -> str:
    """Keep up to `tail` characters at the end, then up to `head` at the start,
    hiding at least `hidden_at_least` (and at least one) characters."""
    n = len(value)
    if n == 0:
        return value
    visible = max(0, min(head + tail, n - max(1, hidden_at_least)))
    keep_tail = min(tail, visible)
    keep_head = min(head, visible - keep_tail)
    return value[:keep_head] + STAR * (n - keep_head - keep_tail) + value[n - keep_tail:]


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


@overload
def mask_cert_no(value: str) -> str: ...
@overload
def mask_cert_no(value: None) -> None: ...
def mask_cert_no(value: str | None) -> str | None:
    """证件号码 as a list shows it (see the module's rules)."""
    if value is None:
        return None
    value = str(value).strip()
    n = len(value)
    if n == 18:
        return _mask(value, 6, 4, 8)
    if n == 15 and value.replace(STAR, "").isdigit():  # (a masked one stays as it is)
        return _mask(value, 6, 3, 6)
    return _mask(value, 2, 3, _ceil_div(n, 2))


@overload
def mask_phone(value: str) -> str: ...
@overload
def mask_phone(value: None) -> None: ...
def mask_phone(value: str | None) -> str | None:
    """联系电话 as a list shows it: first 3 and last 4, at least a third hidden."""
    if value is None:
        return None
    value = str(value).strip()
    return _mask(value, 3, 4, _ceil_div(len(value), 3))
