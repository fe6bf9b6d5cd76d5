"""Read a delivery file as a stream of records, whatever its format.

Every reader yields ``(row_number, record)`` where ``record`` maps the partner's own field label
(a CSV/XLSX header, a KoboToolbox key `group/question`, an ODK or UN API path `group/question`
into nested objects, an SDMX concept id) to its value as text, or ``None`` when absent. The row
number is what a person opening the file would call the row (line in a CSV or XLSX, record in a
JSON file, counted from 1 for the first record). Nothing is read whole into memory except the
formats that are small by nature (one JSON page, one SDMX file).

Deliveries are hostile until proven otherwise: every file is opened through
:func:`lnob.ingest.landing.open_regular` (no symlink, no device), an XLSX is checked on its zip members
before openpyxl reads a byte of it (:func:`check_xlsx`), duplicate column names or keys are refused
by name instead of one silently winning, and what a reason says of the file's content is masked
(:mod:`lnob.transform.masking`).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from lnob.ingest.landing import open_regular, safe_name
from lnob.platform.config import Settings, settings
from lnob.registry import Source
from lnob.transform import masking


class UnreadableDelivery(Exception):
    """The file cannot be read as its format at all; ``kind`` and ``detail`` say why."""

    def __init__(self, kind: str, row: int | None, expected: str, found: str, column: str | None = None):
        self.kind, self.row, self.expected, self.found, self.column = kind, row, expected, found, column
        super().__init__(f"{kind}: row {row}: expected {expected}, found {found}")


#: A CSV header line longer than this is not a header (a file of another kind, or one line).
MAX_HEADER_BYTES = 64 * 1024


#: One delivered row: column -> text (None when empty); the survey readers add the submission's
#: position in its page (:data:`SUBMISSION`, an int) and key.
Record = dict[str, str | int | None]


def text(value: Any) -> str | None:
    """A JSON, XLSX or SDMX value as the text COPY reads."""
    if type(value) is str:  # the common case first
        return value
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
    """Nested objects (ODK Central, the UN SDG API) as `a/b/c` paths. Lists, empty objects and
    GeoJSON points stay JSON values (not text): the loader keeps what the contract does not declare
    in ``_overflow`` as JSON arrays and objects, and :func:`lookup` turns a declared one to text."""
    out: dict[str, Any] = {}
    _flatten_into(obj, prefix, out)
    return out


def _flatten_into(obj: dict, prefix: str, out: dict) -> None:
    for key, value in obj.items():
        path = prefix + key if prefix else key
        kind = type(value)
        if kind is str or value is None:
            out[path] = value
        elif kind is dict:
            if value and not ("type" in value and "coordinates" in value):
                _flatten_into(value, path + "/", out)
            else:
                out[path] = value
        elif kind is list:
            out[path] = value
        else:
            out[path] = text(value)


#: Keys a reader adds to a record of a survey platform: which submission of the page it belongs to
#: (its index in the page and its id), and a repeat group it left empty. Never loaded.
SUBMISSION = "__lnob_submission__"
SUBMISSION_KEY = "__lnob_submission_key__"
EMPTY_REPEAT = "__lnob_empty_repeat__"
INTERNAL = (SUBMISSION, SUBMISSION_KEY, EMPTY_REPEAT)


def lookup_of(label: str):
    """:func:`lookup` for one label, its paths split once (a page asks it of every record)."""
    parts = label.split("/")
    paths = [("/".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]

    def get(record: dict) -> str | None:
        if label in record:
            return text(record[label])
        for prefix, rest in paths:
            value = record.get(prefix)
            if isinstance(value, dict):
                for part in rest:
                    value = value.get(part) if isinstance(value, dict) else None
                return text(value)
        return None

    return get


def lookup(record: dict, label: str) -> str | None:
    """A field's value as text: the key itself, else a `group/question` path into a JSON object
    the record holds (KoboToolbox `_validation_status/uid`)."""
    if label in record:
        return text(record[label])
    parts = label.split("/")
    for i in range(len(parts) - 1, 0, -1):
        value = record.get("/".join(parts[:i]))
        if isinstance(value, dict):
            for part in parts[i:]:
                value = value.get(part) if isinstance(value, dict) else None
            return text(value)
    return None


def csv_header(path: Path, src: Source) -> tuple[list[str], int]:
    """The header of a CSV delivery and the byte offset where its data starts."""
    encoding = src.format.get("encoding", "utf-8")
    with open_regular(path) as fh:
        first = fh.readline(MAX_HEADER_BYTES + 1)
        offset = fh.tell()
    if not first.strip():
        raise UnreadableDelivery("empty_file", 1, "a header row", "an empty file")
    if len(first) > MAX_HEADER_BYTES:
        raise UnreadableDelivery(
            "malformed_csv",
            1,
            f"a header line of at most {MAX_HEADER_BYTES:,} bytes",
            "a longer first line (not a CSV header)",
        )
    try:
        line = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery(
            "wrong_encoding", 1, f"text in {encoding}", f"byte 0x{first[exc.start]:02x} in the header"
        ) from None
    if "\x00" in line:
        raise UnreadableDelivery("nul_byte", 1, "a header without NUL bytes", "a NUL byte in the header")
    header = next(csv.reader([line], delimiter=src.format.get("delimiter", ",")))
    return [h.strip().lstrip("\ufeff") for h in header], offset


def check_header(header: list[str], row: int | None = 1) -> None:
    """Refuse a header that names a column twice: one of the two would be silently lost."""
    counts = Counter(header)
    dupes = [h for h, n in counts.items() if n > 1]
    if dupes:
        h = dupes[0]
        where = [i + 1 for i, x in enumerate(header) if x == h]
        raise UnreadableDelivery(
            "duplicate_header",
            row,
            "each column name once",
            f"column {masking.excerpt(h)!r} {len(where)} times (columns {', '.join(map(str, where[:5]))})",
            column=h,
        )


def read_csv(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    encoding = src.format.get("encoding", "utf-8")
    delimiter = src.format.get("delimiter", ",")
    line = 1
    try:
        with open_regular(path, "r", encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            header = [h.strip() for h in next(reader, [])]
            if not header:
                raise UnreadableDelivery("empty_file", 1, "a header row", "an empty file")
            if any("\x00" in h for h in header):
                raise UnreadableDelivery(
                    "nul_byte", 1, "a header without NUL bytes", "a NUL byte in the header"
                )
            check_header(header)
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    yield line, {"__width__": f"{len(row)} fields", "__expected__": f"{width} fields"}
                    continue
                yield line, dict(zip(header, row, strict=True))
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery(
            "wrong_encoding", line + 1, f"text in {encoding}", f"byte 0x{exc.object[exc.start]:02x}"
        ) from None
    except csv.Error as exc:
        raise UnreadableDelivery(
            "malformed_csv", line + 1, f"CSV delimited by {delimiter!r}", masking.message(str(exc))
        ) from None


_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s>/]")
_DIMENSION = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"'
)
MAX_XLSX_PARTS = 10_000


def _column_number(letters: bytes) -> int:
    n = 0
    for code in letters:
        n = n * 26 + code - 64
    return n


def check_xlsx(fh, cfg: Settings | None = None) -> None:
    """Refuse an XLSX whose zip members would cost unbounded time or memory, before openpyxl
    reads it: too many parts, too many bytes uncompressed, a compression ratio of a zip bomb, a
    shared-strings table (read whole into memory) too large or too long, a sheet declaring more
    cells than allowed (openpyxl would iterate every declared cell). Sizes are the declared ones,
    which zipfile enforces while it inflates."""
    import zipfile

    cfg = cfg or settings()
    try:
        book = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UnreadableDelivery(
            "unreadable_xlsx",
            None,
            "an XLSX workbook (a zip archive)",
            f"not a zip archive ({type(exc).__name__})",
        ) from None
    parts = book.infolist()
    if len(parts) > MAX_XLSX_PARTS:
        raise UnreadableDelivery(
            "xlsx_too_large", None, f"at most {MAX_XLSX_PARTS:,} parts", f"{len(parts):,} parts"
        )
    total = sum(p.file_size for p in parts)
    if total > cfg.xlsx_max_uncompressed:
        raise UnreadableDelivery(
            "xlsx_too_large",
            None,
            f"at most {cfg.xlsx_max_uncompressed:,} bytes uncompressed (LNOB_XLSX_MAX_UNCOMPRESSED)",
            f"{total:,} bytes declared",
        )
    for p in parts:
        ratio = p.file_size / max(1, p.compress_size)
        if p.file_size > 1_000_000 and ratio > cfg.xlsx_max_ratio:
            raise UnreadableDelivery(
                "xlsx_zip_bomb",
                None,
                f"a compression ratio of at most {cfg.xlsx_max_ratio:g}:1 (LNOB_XLSX_MAX_RATIO)",
                f"part {safe_name(p.filename, 80)}: {ratio:,.0f}:1 "
                f"({p.file_size:,} bytes from {p.compress_size:,})",
            )
        name = p.filename.lower()
        is_sheet = name.startswith("xl/worksheets/") and name.endswith(".xml")
        if not is_sheet and p.file_size > cfg.xlsx_max_shared_strings_bytes:
            what = (
                "shared-strings table"
                if name.endswith("sharedstrings.xml")
                else f"part {safe_name(p.filename, 80)}"
            )
            raise UnreadableDelivery(
                "xlsx_too_large",
                None,
                f"a {what} of at most {cfg.xlsx_max_shared_strings_bytes:,} bytes "
                "(LNOB_XLSX_MAX_SHARED_STRINGS_BYTES)",
                f"{p.file_size:,} bytes",
            )
        if name.endswith("sharedstrings.xml"):
            count = 0
            prev = b""
            with book.open(p) as member:
                for block in iter(functools.partial(member.read, 1 << 20), b""):
                    data = prev + block  # a tag cut by the block boundary is counted once
                    count += sum(1 for m in _SHARED_STRING.finditer(data) if m.end() > len(prev))
                    prev = data[-16:]
                    if count > cfg.xlsx_max_shared_strings:
                        raise UnreadableDelivery(
                            "xlsx_too_large",
                            None,
                            f"at most {cfg.xlsx_max_shared_strings:,} shared strings (LNOB_XLSX_MAX_SHARED_STRINGS)",
                            f"more than {cfg.xlsx_max_shared_strings:,}",
                        )
        if is_sheet:
            with book.open(p) as member:
                head = member.read(64 * 1024)
            m = _DIMENSION.search(head)
            if m and m.group(3) and m.group(4):
                first_col = _column_number(m.group(1) or b"A")
                first_row = int(m.group(2) or 1)
                cells = (_column_number(m.group(3)) - first_col + 1) * (int(m.group(4)) - first_row + 1)
                if cells > cfg.xlsx_max_cells:
                    ref = m.group(0).split(b'"')[1].decode("ascii", "replace")
                    raise UnreadableDelivery(
                        "xlsx_too_large",
                        None,
                        f"a sheet of at most {cfg.xlsx_max_cells:,} cells (LNOB_XLSX_MAX_CELLS)",
                        f"part {safe_name(p.filename, 80)} declares {ref} ({cells:,} cells)",
                    )
    fh.seek(0)


def read_xlsx(path: Path, src: Source, cfg: Settings | None = None) -> Iterator[tuple[int, Record]]:
    import openpyxl

    cfg = cfg or settings()
    with open_regular(path) as fh:
        check_xlsx(fh, cfg)
        try:
            book = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
            raise UnreadableDelivery(
                "unreadable_xlsx",
                None,
                "an XLSX workbook",
                f"{type(exc).__name__}: {masking.message(str(exc))}",
            ) from None
        sheet_name = src.format["sheet"]
        if sheet_name not in book.sheetnames:
            raise UnreadableDelivery(
                "missing_sheet",
                None,
                f"a sheet named {sheet_name!r}",
                f"sheets {[masking.excerpt(n) for n in book.sheetnames[:10]]}",
            )
        header_row = src.format.get("header_row", 1)
        sheet = book[sheet_name]
        sheet.reset_dimensions()  # the declared size is the partner's word: read the cells there are
        header: list[str] = []
        cells = 0
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells += len(values) or 1
            if cells > cfg.xlsx_max_cells:
                raise UnreadableDelivery(
                    "xlsx_too_large",
                    number,
                    f"a sheet of at most {cfg.xlsx_max_cells:,} cells (LNOB_XLSX_MAX_CELLS)",
                    f"more than {cfg.xlsx_max_cells:,} cells by row {number:,}",
                )
            if number < header_row:
                continue
            if number == header_row:
                header = [str(v).strip() if v is not None else "" for v in values]
                check_header([h for h in header if h], header_row)
                continue
            if all(v is None for v in values):
                continue
            yield number, {h: text(v) for h, v in zip(header, values, strict=False) if h}
        book.close()


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):  # a key twice: name the first one repeated
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return out


def _json_loads(line: str) -> Any:
    return json.loads(line, object_pairs_hook=_no_duplicates)


def _json(path: Path) -> Any:
    try:
        with open_regular(path, "r", encoding="utf-8") as fh:
            return json.load(fh, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as exc:
        raise UnreadableDelivery(
            "wrong_encoding",
            None,
            "JSON in UTF-8",
            f"byte 0x{exc.object[exc.start]:02x} at byte {exc.start:,}",
        ) from None
    except _DuplicateKey as exc:
        raise UnreadableDelivery(
            "duplicate_header",
            None,
            "each key once in an object",
            f"key {masking.excerpt(exc.key)!r} twice in one object",
            column=exc.key,
        ) from None
    except json.JSONDecodeError as exc:
        raise UnreadableDelivery("malformed_json", exc.lineno, "a JSON document", exc.msg) from None
    except RecursionError:
        raise UnreadableDelivery(
            "malformed_json", None, "a JSON document", "objects nested too deep"
        ) from None


def read_json(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    doc = _json(path)
    key = src.format.get("records")
    records = doc.get(key) if key and isinstance(doc, dict) else doc
    if not isinstance(records, list):
        raise UnreadableDelivery(
            "malformed_json",
            None,
            f"a list of records{f' under {key!r}' if key else ''}",
            type(records).__name__,
        )
    for number, rec in enumerate(records, start=1):
        yield number, {k: text(v) for k, v in rec.items()}


def read_jsonl(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    with open_regular(path, "r", encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = _json_loads(line)
            except _DuplicateKey as exc:
                raise UnreadableDelivery(
                    "duplicate_header",
                    number,
                    "each key once in an object",
                    f"key {masking.excerpt(exc.key)!r} twice",
                    column=exc.key,
                ) from None
            except json.JSONDecodeError as exc:
                raise UnreadableDelivery(
                    "malformed_json", number, "one JSON object per line", exc.msg
                ) from None
            yield number, {k: text(v) for k, v in rec.items()}


def _keys(page: Any) -> str:
    """What a page that is not the expected shape holds: its first keys, masked (never values)."""
    if not isinstance(page, dict):
        return type(page).__name__
    return f"keys {[masking.excerpt(k) for k in sorted(page)[:8]]}"


def _value(v: Any) -> Any:
    """A platform value as a record holds it: JSON objects and arrays as they are, the rest text."""
    return v if isinstance(v, (dict, list)) else text(v)


def submissions(path: Path, src: Source) -> list:
    """The submissions of a survey platform's page (KoboToolbox ``results``, OData ``value``), as
    the platform sent them; a page that is not the platform's envelope is unreadable."""
    page = _json(path)
    key, shape = (
        ("results", "a KoboToolbox data page {count, next, previous, results}")
        if src.kind == "kobo_json"
        else ("value", "an OData page {@odata.context, value}")
    )
    if not isinstance(page, dict) or not isinstance(page.get(key), list):
        raise UnreadableDelivery("malformed_page", None, shape, _keys(page))
    return page[key]


def read_kobo(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    """KoboToolbox API v2 data page: one record per member of the repeat group, carrying the
    submission's own fields (or one per submission when the form has no repeat group). Nested
    metadata (`_validation_status`, `_tags`, `_notes`) stays JSON; keys the format's ``discard``
    lists (`_geolocation`, `_attachments`) are dropped here, never stored. Each record says which
    submission it came from (:data:`SUBMISSION`, :data:`SUBMISSION_KEY`); a submission whose repeat
    group is missing or empty gives one record marked :data:`EMPTY_REPEAT`."""
    repeat = src.format.get("repeat")
    key = src.format.get("key", "_id")
    discard = set(src.format.get("discard", []))
    number = 0
    for index, sub in enumerate(submissions(path, src)):
        if not isinstance(sub, dict):
            raise UnreadableDelivery(
                "malformed_page", None, "a submission object in `results`", type(sub).__name__
            )
        base = {
            k: v if type(v) is str else _value(v) for k, v in sub.items() if k != repeat and k not in discard
        }
        base[SUBMISSION], base[SUBMISSION_KEY] = index, text(sub.get(key))
        members = sub.get(repeat) if repeat else None
        if repeat and not members:
            number += 1
            yield number, {**base, EMPTY_REPEAT: repeat}
            continue
        for member in members or [{}]:
            number += 1
            if not isinstance(member, dict):
                yield number, {**base, EMPTY_REPEAT: repeat}
                continue
            yield (
                number,
                {
                    **base,
                    **{k: v if type(v) is str else _value(v) for k, v in member.items() if k not in discard},
                },
            )


def _paged(path: Path, key: str, shape: str) -> Iterator[tuple[int, Record]]:
    """The records of one API page whose rows sit under ``key``, nested objects as paths."""
    page = _json(path)
    if not isinstance(page, dict) or key not in page:
        raise UnreadableDelivery("malformed_page", None, shape, _keys(page))
    for number, row in enumerate(page[key], start=1):
        yield number, _flatten(row)


def read_odata(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    """ODK Central OData page: one record per submission (nested groups as paths), each saying
    which submission it is (its ``__id``)."""
    key = src.format.get("key", "__id")
    discard = set(src.format.get("discard", []))
    for index, row in enumerate(submissions(path, src)):
        if not isinstance(row, dict):
            raise UnreadableDelivery(
                "malformed_page", None, "a submission object in `value`", type(row).__name__
            )
        rec = _flatten(row)
        if discard:
            rec = {k: v for k, v in rec.items() if k not in discard}
        rec[SUBMISSION], rec[SUBMISSION_KEY] = index, text(row.get(key))
        yield index + 1, rec


def read_unsd(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    return _paged(path, "data", "a UN SDG API page {totalElements, data}")


def read_sdmx(path: Path, src: Source) -> Iterator[tuple[int, Record]]:
    import sdmx

    try:
        with open_regular(path) as fh:
            message = cast(
                "sdmx.message.DataMessage", sdmx.read_sdmx(cast(io.BufferedReader, fh), format="XML")
            )
    except Exception as exc:  # noqa: BLE001 - sdmx1 raises parser-specific errors
        raise UnreadableDelivery(
            "unreadable_sdmx",
            None,
            "an SDMX-ML data message",
            f"{type(exc).__name__}: {masking.message(str(exc))}",
        ) from None
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


READERS: dict[str, Callable[[Path, Source], Iterator[tuple[int, Record]]]] = {
    "csv": read_csv,
    "xlsx": read_xlsx,
    "json": read_json,
    "jsonl": read_jsonl,
    "kobo_json": read_kobo,
    "odata_json": read_odata,
    "unsd_json": read_unsd,
    "sdmx_ml": read_sdmx,
}


def records(path: Path, src: Source, cfg: Settings | None = None) -> Iterator[tuple[int, Record]]:
    if src.kind == "xlsx":
        return read_xlsx(Path(path), src, cfg)
    return READERS[src.kind](Path(path), src)
