"""Test and benchmark data: valid, distinct persons on demand.

ID numbers are built here with their own GB 11643 arithmetic (not by the code
under test), so a test that feeds them in also checks the validator."""
from datetime import date, timedelta

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
AREAS = ("350503", "350502", "350504", "350582", "350583", "350521")


def id_number(i, born=None, female=None):
    """A valid 18-character ID number, distinct for each i < 3,000,000.

    Born on `born` (default: a date between 1950 and 2000 derived from i);
    the sequence's last digit is odd for men, even for women."""
    born = born or date(1950, 1, 1) + timedelta(days=(i // 1000) % 18000)
    seq = i % 1000
    if female is not None and (seq % 2 == 0) != female:
        seq = seq ^ 1
    body = AREAS[(i // 18_000_000) % len(AREAS)] + born.strftime("%Y%m%d") + f"{seq:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]


def enrolment(i, **overrides):
    """An enrolment body of docs/api.md for person i (born 1950–1999: an adult,
    category 11)."""
    body = {
        "cert_type": "01",
        "cert_no": id_number(i),
        "name": "测试" + "甲乙丙丁戊己庚辛壬癸"[i % 10] + "子丑寅卯辰巳午未申酉"[(i // 10) % 10],
        "category": "11",
        "phone": f"139{i % 100_000_000:08d}",
        "nation": "01",
        "address": "福建省泉州市丰泽区东海街道",
    }
    body.update(overrides)
    return body
