"""A sheet of rows without `r` attributes (numbered by position) is refused
for its row count while its XML streams by, before the cell parser, which
builds every row in memory, ever sees it (issue 10, point 3)."""
import io
import re
import zipfile

import pytest

from common.errors import InvalidInput, TooLarge, UnsupportedFile
from services.declarations.batch import reader
from tests import fixtures_xlsx as fx

SHEET = "xl/worksheets/sheet1.xml"


def unnumbered_rows(count, prefix=b""):
    """The enrolment template with `count` rows without `r` attributes;
    with `prefix` (b"x:"), the worksheet's elements carry that namespace prefix."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != SHEET:
                dst.writestr(item.filename, src.read(item.filename))
                continue
            xml = src.read(SHEET)
            head, tail = xml.split(b"</sheetData>", 1)
            head = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1"/>', head, count=1)
            if prefix:
                head, tail = (re.sub(rb"<(/?)(?=[a-zA-Z])", rb"<\1" + prefix, part) for part in (head, tail))
                head = head.replace(b"<" + prefix + b"?xml", b"<?xml").replace(
                    b'xmlns="', b"xmlns:" + prefix[:-1] + b'="', 1)
            with dst.open(SHEET, "w", force_zip64=True) as member:
                member.write(head)
                row = b"<%srow><%sc t=\"inlineStr\"><%sis><%st>35050319850615%%06d</%st></%sis></%sc></%srow>" % (
                    (prefix,) * 8)
                for start in range(0, count, 20000):
                    member.write(b"".join(row % n for n in range(start, min(count, start + 20000))))
                member.write(b"</" + prefix + b"sheetData>" + tail)
    return out.getvalue()


@pytest.fixture
def no_parsing(monkeypatch):
    def refuse(*args):
        raise AssertionError("the cell parser was reached")
    monkeypatch.setattr(reader, "parse_cells", refuse)


@pytest.mark.parametrize("prefix", [b"", b"x:"])
def test_a_million_unnumbered_rows_are_refused_before_parsing(no_parsing, prefix):
    data = unnumbered_rows(1_000_000, prefix)
    assert len(data) < 10 * 1024 * 1024
    with pytest.raises(TooLarge) as exc:
        reader.read(data)
    assert "20000" in exc.value.message


def test_unnumbered_rows_within_the_limit_still_read():
    sheet = reader.read(unnumbered_rows(1000))
    assert len(sheet.rows) == 1 + 1 + 1000  # header, the filled row, the unnumbered ones


def test_the_count_of_rows_is_what_refuses(no_parsing):
    with pytest.raises(TooLarge):
        reader.read(unnumbered_rows(20_001), reader.Limits(max_rows=20_000))


def wide_unnumbered_row(width, rows=5000):
    """One row of `width` cells without `r` attributes above `rows` narrow
    rows: the parser would build every row `width` cells wide."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename != SHEET:
                dst.writestr(item.filename, src.read(item.filename))
                continue
            head, tail = src.read(SHEET).split(b"</sheetData>", 1)
            with dst.open(SHEET, "w") as member:
                member.write(head)
                member.write(b"<row>" + b"".join(b'<c t="inlineStr"><is><t>%d</t></is></c>' % i
                                                  for i in range(width)) + b"</row>")
                member.write(b"<row><c/></row>" * rows + b"</sheetData>" + tail)
    return out.getvalue()


def test_a_row_of_thousands_of_unnumbered_cells_is_refused_before_parsing(no_parsing):
    data = wide_unnumbered_row(16_000)
    assert len(data) < 100 * 1024
    with pytest.raises(InvalidInput) as exc:
        reader.read(data)
    assert exc.value.extra["reason"] == "wrong_template"


def test_unnumbered_cells_as_wide_as_a_template_still_read():
    sheet = reader.read(wide_unnumbered_row(20, rows=10))
    assert max(len(row) for row in sheet.rows) == 20


def test_a_normal_file_never_takes_the_per_row_count():
    data = fx.big("enrolment", [fx.enrolment_row(i) for i in fx.many_ids(300)])
    counter = reader._Unnumbered(b"", 64)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read(SHEET)
    for start in range(0, len(sheet), 997):  # chunk edges cut tags in two
        counter.check(sheet[start:start + 997], b"<row")
    assert not counter.seen


def _with_member(data, member, change):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item, change(body) if item.filename == member else body)
    return out.getvalue()


def test_a_far_cell_in_the_hidden_codes_sheet_is_refused_before_parsing(no_parsing):
    """The parser read the codes sheet (for its version mark) as a grid up to
    its farthest cell: XFD1048576 made it ask for 512 GB and abort."""
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b'name="\xe4\xbb\xa3\xe7\xa0\x81\xe8\xa1\xa8"' in z.read("xl/workbook.xml")  # 代码表 is sheet2
    data = _with_member(data, "xl/worksheets/sheet2.xml", lambda xml: xml.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'))
    with pytest.raises(TooLarge):
        reader.read(data)


def test_huge_shared_strings_are_refused_before_parsing(no_parsing):
    data = fx.filled("enrolment", [fx.enrolment_row(fx.id_number(7))])
    strings = b"<sst>" + b"".join(b"<si><t>%024d</t></si>" % i for i in range(500_000)) + b"</sst>"
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/sharedStrings.xml", strings)
    assert len(strings) > reader.Limits().max_other_part
    with pytest.raises(UnsupportedFile):
        reader.read(out.getvalue())
