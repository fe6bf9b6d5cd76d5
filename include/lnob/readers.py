"""Read a delivery file as a stream of records, whatever its format.

Every reader yields ``(row_number, record)`` where ``record`` maps the partner's own field label
(a CSV/XLSX header, a KoboToolbox key `group/question`, an ODK or UN API path `group/question`
into nested objects, an SDMX concept id) to its value as text, or ``None`` when absent. The row
number is what a person opening the file would call the row (line in a CSV or XLSX, record in a
JSON file, counted from 1 for the first record). Nothing is read whole into memory except the
formats that are small by nature (one JSON page, one SDMX file).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lnob.registry import Source


class UnreadableDelivery(Exception):
    """The file cannot be read as its format at all; ``kind`` and ``detail`` say why."""

    def __init__(self, kind: str, row: int | None, expected: str, found: str):
        self.kind, self.row, self.expected, self.found = kind, row, expected, found
        super().__init__(f"{kind}: row {row}: expected {expected}, found {found}")


Record = dict[str, str | None]


def text(value: Any) -> str | None:
    """A JSON, XLSX or SDMX value as the text COPY reads."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(obj: dict, prefix: str = "") -> Record:
    """Nested objects (ODK Central, the UN SDG API) as `a/b/c` paths; lists stay JSON."""
    out: Record = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not ("type" in value and "coordinates" in value):
            out.update(_flatten(value, path + "/"))
        else:
            out[path] = text(value)
    return out


def csv_header(path: Path, src: Source) -> tuple[list[str], int]:
    """The header of a CSV delivery and the byte offset where its data starts."""
    encoding = src.format.get("encoding", "utf-8")
    with open(path, "rb") as fh:
        first = fh.readline()
        offset = fh.tell()
    if not first.strip():
        raise UnreadableDelivery("empty_file", 1, "a header row", "an empty file")
    try:
        line = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery("wrong_encoding", 1, f"text in {encoding}",
                                 f"byte {first[exc.start:exc.start + 1]!r} in the header") from None
    header = next(csv.reader([line], delimiter=src.format.get("delimiter", ",")))
    return [h.strip().lstrip("\ufeff") for h in header], offset


def read_csv(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    encoding = src.format.get("encoding", "utf-8")
    delimiter = src.format.get("delimiter", ",")
    line = 1
    try:
        with open(path, encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise UnreadableDelivery("empty_file", 1, "a header row", "an empty file")
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    yield line, {"__width__": f"{len(row)} fields", "__expected__": f"{width} fields"}
                    continue
                yield line, dict(zip(header, row, strict=True))
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery("wrong_encoding", line + 1, f"text in {encoding}",
                                 f"byte {exc.object[exc.start:exc.start + 1]!r}") from None
    except csv.Error as exc:
        raise UnreadableDelivery("malformed_csv", line + 1, f"CSV delimited by {delimiter!r}", str(exc)) from None


def read_xlsx(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise UnreadableDelivery("unreadable_xlsx", None, "an XLSX workbook", f"{type(exc).__name__}: {exc}") from None
    sheet_name = src.format["sheet"]
    if sheet_name not in book.sheetnames:
        raise UnreadableDelivery("missing_sheet", None, f"a sheet named {sheet_name!r}", f"sheets {book.sheetnames}")
    header_row = src.format.get("header_row", 1)
    rows = book[sheet_name].iter_rows(values_only=True)
    header: list[str] = []
    for number, values in enumerate(rows, start=1):
        if number < header_row:
            continue
        if number == header_row:
            header = [str(v).strip() if v is not None else "" for v in values]
            continue
        if all(v is None for v in values):
            continue
        yield number, {h: text(v) for h, v in zip(header, values, strict=False) if h}
    book.close()


def _json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery("wrong_encoding", None, "JSON in UTF-8", str(exc)) from None
    except json.JSONDecodeError as exc:
        raise UnreadableDelivery("malformed_json", exc.lineno, "a JSON document", exc.msg) from None


def read_json(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    doc = _json(path)
    key = src.format.get("records")
    records = doc.get(key) if key and isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise UnreadableDelivery("malformed_json", None, f"a list of records{f' under {key!r}' if key else ''}",
                                 type(records).__name__)
    for number, rec in enumerate(records, start=1):
        yield number, {k: text(v) for k, v in rec.items()}


def read_jsonl(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UnreadableDelivery("malformed_json", number, "one JSON object per line", exc.msg) from None
            yield number, {k: text(v) for k, v in rec.items()}


def read_kobo(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    """KoboToolbox API v2 data page: one record per member of the repeat group, carrying the
    submission's own fields (or one per submission when the form has no repeat group)."""
    page = _json(path)
    if not isinstance(page, dict) or "results" not in page:
        raise UnreadableDelivery("malformed_page", None, "a KoboToolbox data page {count, next, previous, results}",
                                 f"keys {sorted(page)[:8] if isinstance(page, dict) else type(page).__name__}")
    repeat = src.format.get("repeat")
    number = 0
    for sub in page["results"]:
        base = {k: text(v) for k, v in sub.items() if k != repeat}
        members = sub.get(repeat) if repeat else None
        for member in members or [{}]:
            number += 1
            yield number, {**base, **{k: text(v) for k, v in member.items()}}


def _paged(path: Path, key: str, shape: str) -> Iterator[tuple[int, Record]]:
    """The records of one API page whose rows sit under ``key``, nested objects as paths."""
    page = _json(path)
    if not isinstance(page, dict) or key not in page:
        raise UnreadableDelivery("malformed_page", None, shape,
                                 f"keys {sorted(page)[:8] if isinstance(page, dict) else type(page).__name__}")
    for number, row in enumerate(page[key], start=1):
        yield number, _flatten(row)


def read_odata(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    return _paged(path, "value", "an OData page {@odata.context, value}")


def read_unsd(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    return _paged(path, "data", "a UN SDG API page {totalElements, data}")


def read_sdmx(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    import sdmx

    try:
        message = sdmx.read_sdmx(path)
    except Exception as exc:  # noqa: BLE001 - sdmx1 raises parser-specific errors
        raise UnreadableDelivery("unreadable_sdmx", None, "an SDMX-ML data message", f"{type(exc).__name__}: {exc}") from None
    number = 0
    for dataset in message.data:
        for series_key, observations in dataset.series.items():
            series_attrs = {k: text(getattr(v, "value", v)) for k, v in series_key.attrib.items()}
            for obs in observations:
                number += 1
                rec: Record = {k: text(getattr(v, "value", v)) for k, v in obs.key.values.items()}
                rec.update(series_attrs)
                rec.update({k: text(getattr(v, "value", v)) for k, v in obs.attrib.items()})
                rec["OBS_VALUE"] = text(obs.value)
                yield number, rec


READERS = {
    "csv": read_csv, "xlsx": read_xlsx, "json": read_json, "jsonl": read_jsonl,
    "kobo_json": read_kobo, "odata_json": read_odata, "unsd_json": read_unsd, "sdmx_ml": read_sdmx,
}


def records(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    return READERS[src.kind](Path(path), src)
