"""统一社会信用代码 (GB 32100-2015): 18 characters, the last a check character."""

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(ALPHABET)}


def normalise(code):
    return "".join(str(code or "").split()).upper()


def check_character(first17):
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=False))
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value]


def credit_code_error(code):
    """None when `code` (normalised) is valid, else a Chinese reason."""
    if len(code) != 18:
        return "统一社会信用代码应为18位"
    bad = [c for c in code if c not in _VALUE]
    if bad:
        return f"统一社会信用代码含有不允许的字符：{bad[0]}"
    if check_character(code[:17]) != code[17]:
        return "统一社会信用代码校验位不正确，请核对"
    return None
