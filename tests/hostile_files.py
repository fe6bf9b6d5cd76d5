"""Hostile deliveries, built from a well-formed sample delivery: what an attacker (or a broken
export) drops into a partner folder. Used by tests/test_hostile_input.py; runnable on its own to
measure a loader against them (``python tests/hostile_files.py <out-dir>`` writes them)."""

from __future__ import annotations

import csv
import re
import sys
import zipfile
from datetime import date
from pathlib import Path

SST_CONTENT_TYPE = (
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
)
SST_REL = (
    b'<Relationship Id="rIdSST" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    b'Target="sharedStrings.xml"/>'
)


def rewrite_xlsx(source: Path, target: Path, change, extra: dict[str, object] | None = None) -> Path:
    """Copy an XLSX part by part, ``change(name, bytes) -> bytes`` applied to each; ``extra`` adds
    parts (bytes, or a callable writing into the open member)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(source) as zin,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout,
    ):
        for item in zin.infolist():
            zout.writestr(item.filename, change(item.filename, zin.read(item)))
        for name, content in (extra or {}).items():
            if callable(content):
                with zout.open(name, "w", force_zip64=True) as fh:
                    content(fh)
            else:
                zout.writestr(name, content)
    return target


def xlsx_declaring_full_sheet(source: Path, target: Path) -> Path:
    """The same few rows, but the sheet declares A1:XFD1048576 (17 billion cells) and holds one
    more cell in its last row: openpyxl pads every row in between to the declared width."""

    def change(name: str, data: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            data = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', data, count=1)
            return data.replace(
                b"</sheetData>",
                b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t></is></c></row></sheetData>',
            )
        return data

    return rewrite_xlsx(source, target, change)


def xlsx_with_big_shared_strings(source: Path, target: Path, count: int = 1_500_000) -> Path:
    """The same rows, plus a shared-strings table of ``count`` distinct short strings (openpyxl
    reads the whole table into memory before the first row)."""

    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", SST_CONTENT_TYPE + b"</Types>")
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", SST_REL + b"</Relationships>")
        return data

    def strings(fh) -> None:
        fh.write(
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns='
            b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">'
            % (count, count)
        )
        step = 100_000
        for start in range(0, count, step):
            fh.write(b"".join(b"<si><t>s%07d</t></si>" % i for i in range(start, min(count, start + step))))
        fh.write(b"</sst>")

    return rewrite_xlsx(source, target, change, {"xl/sharedStrings.xml": strings})


def xlsx_with_broken_sheet(source: Path, target: Path) -> Path:
    """A sheet whose XML stops in the middle of a row: the reader fails while iterating."""

    def change(name: str, data: bytes) -> bytes:
        if name.startswith("xl/worksheets/sheet1"):
            cut = data.index(b"<row", data.index(b"<row") + 10)
            return data[: cut + 30]
        return data

    return rewrite_xlsx(source, target, change)


def read_rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


def write_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig", delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


if __name__ == "__main__":  # write the XLSX cases for a measurement outside the tests
    from lnob_dev import sample

    out = Path(sys.argv[1])
    (good,) = sample.generate(
        out / "src", persons=20, seed=5, day=date(2026, 10, 1), only=["vso_np_household_survey"]
    )
    print(xlsx_declaring_full_sheet(good, out / "VSO_Nepal_LNOB_dimension.xlsx"))
    print(xlsx_with_big_shared_strings(good, out / "VSO_Nepal_LNOB_strings.xlsx"))
