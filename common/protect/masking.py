"""De-identified display of personal fields in list answers (GB/T 35273):

    mask_cert_no("35050219900101123X") == "350502********123X"   first 6, last 4
    mask_phone("13812345678")          == "138****5678"          first 3, last 4
    mask_cert_no("350502900101123")    == "350502******123"      legacy 15 digits, as in logs

Shorter values keep fewer characters so that at least a third of them, and never
fewer than one, are hidden (the tail is kept before the head): a short value is not
given away whole. The result
has the value's length, so a column lines up. None and "" are returned as they are.
"""
from __future__ import annotations

from typing import overload

STAR = "*"


def _mask(value: str, head: int, tail: int) -> str:
    n = len(value)
    if n == 0:
        return value
    hidden = max(1, -(-n // 3))  # ceil(n / 3)
    visible = min(head + tail, n - hidden)
    keep_tail = min(tail, visible)
    keep_head = min(head, visible - keep_tail)
    return value[:keep_head] + STAR * (n - keep_head - keep_tail) + (value[n - keep_tail:] if keep_tail else "")


@overload
def mask_cert_no(value: str) -> str: ...
@overload
def mask_cert_no(value: None) -> None: ...
def mask_cert_no(value: str | None) -> str | None:
    """证件号码: first 6 (the division code) and last 4 (including the check character) kept;
    a 15-digit legacy number keeps its last 3, as common.logs.mask writes it."""
    if value is None:
        return None
    value = value.strip()
    if len(value) == 15 and value.isdigit():
        return _mask(value, 6, 3)
    return _mask(value, 6, 4)


@overload
def mask_phone(value: str) -> str: ...
@overload
def mask_phone(value: None) -> None: ...
def mask_phone(value: str | None) -> str | None:
    """联系电话: first 3 and last 4 kept (a mobile's carrier prefix and its end)."""
    return None if value is None else _mask(value.strip(), 3, 4)
