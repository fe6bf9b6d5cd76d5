"""Extract deliveries from the landing folder and load them into the raw layer.

A delivery is one file a partner dropped for one date. It loads in one transaction (all or
nothing) with PostgreSQL COPY into an unindexed raw table, every row carrying its lineage. The
delivery ledger makes a file that arrives twice load once, and a corrected re-delivery for the
same source and date replace the earlier one. A delivery that breaks its contract is not loaded:
it is copied to the quarantine folder with a machine-readable reason naming the partner, file,
row and column, and the rest of the night goes on.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import psycopg2

from lnob import meta, readers
from lnob.config import META_SCHEMA, RAW_SCHEMA, ConfigurationError, Settings, settings  # noqa: F401
from lnob.registry import Registry, Source

LINEAGE_COLUMNS = [
    ("_delivery_id", "bigint"),
    ("_partner_id", "text"),
    ("_source_id", "text"),
    ("_file_name", "text"),
    ("_row_number", "bigint"),
    ("_file_sha256", "text"),
    ("_delivery_date", "date"),
    ("_overflow", "jsonb"),
    ("_superseded_by", "bigint"),  # a later delivery holding a newer version of this record
]
MAX_LISTED_ERRORS = 20


@dataclass(frozen=True)
class Delivery:
    """One file of one source for one date, as found in the landing folder."""

    source_id: str
    partner_id: str
    delivery_date: str  # ISO date of the landing folder
    path: str
    sha256: str

    @property
    def file_name(self) -> str:
        return Path(self.path).name


@dataclass
class LoadResult:
    source_id: str
    partner_id: str
    file_name: str
    delivery_date: str
    outcome: str  # loaded | duplicate | quarantined
    rows_loaded: int = 0
    delivery_id: int | None = None
    superseded: list[int] | None = None
    unexpected_fields: list[str] | None = None
    reason: dict | None = None
    quarantine_path: str | None = None


class ContractViolation(Exception):
    """A delivery broke its source's contract; ``errors`` name row, column, expected, found."""

    def __init__(self, kind: str, errors: list[dict], total: int | None = None):
        self.kind = kind
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(kind)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Extract: what is new in the landing folder
# --------------------------------------------------------------------------------------------


def discover(registry: Registry, landing_dir: Path, up_to: date) -> list[Delivery]:
    """Every file-drop delivery in ``<landing>/<partner>/<YYYY-MM-DD>/`` dated on or before
    ``up_to`` (a late delivery for an earlier date is picked up too), sorted by date."""
    found: list[Delivery] = []
    for partner_id in sorted(registry.partners):
        partner_dir = landing_dir / partner_id
        if not partner_dir.is_dir():
            continue
        for day_dir in sorted(p for p in partner_dir.iterdir() if p.is_dir()):
            try:
                day = date.fromisoformat(day_dir.name)
            except ValueError:
                continue  # not a delivery folder
            if day > up_to:
                continue
            for src in registry.sources_of(partner_id):
                for f in sorted(day_dir.iterdir()):
                    if f.is_file() and not f.name.startswith(".") and fnmatch.fnmatch(f.name, src.file_pattern):
                        found.append(Delivery(src.id, partner_id, day.isoformat(), str(f), file_sha256(f)))
    return found


def known_sha256s(conn, source_ids: Iterable[str]) -> set[tuple[str, str]]:
    with conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute(
            f"select source_id, file_sha256 from {META_SCHEMA}.delivery_ledger where source_id = any(%s)",
            (list(source_ids),),
        )
        return {(r[0], r[1]) for r in cur.fetchall()}


def new_deliveries(conn, registry: Registry, landing_dir: Path, up_to: date) -> tuple[list[Delivery], int]:
    """The deliveries not yet in the ledger, and how many found ones were already known."""
    found = discover(registry, landing_dir, up_to)
    known = known_sha256s(conn, registry.sources)
    fresh = [d for d in found if (d.source_id, d.sha256) not in known]
    return fresh, len(found) - len(fresh)


# --------------------------------------------------------------------------------------------
# The raw table of a source
# --------------------------------------------------------------------------------------------

EXPECTED = {"integer": "a whole number", "numeric": "a number", "date": "a date YYYY-MM-DD",
            "boolean": "true/false", "text": "text", "timestamp": "a timestamp"}
#: strftime date orders the loader understands, as PostgreSQL DateStyle field orders.
DATE_ORDERS = {"%d/%m/%Y": "DMY", "%d.%m.%Y": "DMY", "%d-%m-%Y": "DMY", "%m/%d/%Y": "MDY",
               "%Y-%m-%d": "YMD", "%Y/%m/%d": "YMD"}
#: Lineage the loader sets per delivery; the raw table's column defaults read them, so that COPY
#: fills them for every row without the file passing through Python.
_LINEAGE_SETTINGS = ("delivery_id", "partner_id", "source_id", "file_name", "file_sha256", "delivery_date")


def raw_columns(src: Source) -> list[tuple[str, str]]:
    return [(f.name, f.sql_type) for f in src.fields] + LINEAGE_COLUMNS


def _row_sequence(src: Source) -> str:
    return f'{RAW_SCHEMA}."{src.raw_table}__row_number"'


def ensure_raw_table(cur, src: Source) -> None:
    """Create the raw table of a source, or add the columns a grown contract declares.

    Unindexed, append-only. Lineage columns default to the loader's per-delivery settings and the
    row number to a per-source sequence the loader resets before each delivery (loads of one
    source are serialised by an advisory lock), so a plain COPY of the partner's file fills them.
    """
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw_ddl:{src.id}",))
    table = f'{RAW_SCHEMA}."{src.raw_table}"'
    cur.execute(f"create sequence if not exists {_row_sequence(src)}")
    defaults = {
        "_delivery_id": "current_setting('lnob.delivery_id')::bigint",
        "_partner_id": "current_setting('lnob.partner_id')",
        "_source_id": "current_setting('lnob.source_id')",
        "_file_name": "current_setting('lnob.file_name')",
        "_row_number": f"nextval('{_row_sequence(src)}')",
        "_file_sha256": "current_setting('lnob.file_sha256')",
        "_delivery_date": "current_setting('lnob.delivery_date')::date",
    }
    cols = [f'"{n}" {t}' for n, t in raw_columns(src)]
    cur.execute(f"create table if not exists {table} ({', '.join(cols)}, "
                "_loaded_at timestamptz not null default now())")
    for n, t in raw_columns(src):
        cur.execute(f'alter table {table} add column if not exists "{n}" {t}')
    for n, expr in defaults.items():
        cur.execute(f'alter table {table} alter column "{n}" set default {expr}')


def _set_lineage(cur, src: Source, delivery: Delivery, delivery_id: int) -> None:
    values = dict(delivery_id=str(delivery_id), partner_id=delivery.partner_id, source_id=src.id,
                  file_name=delivery.file_name, file_sha256=delivery.sha256,
                  delivery_date=delivery.delivery_date)
    for name in _LINEAGE_SETTINGS:
        cur.execute("select set_config(%s, %s, true)", (f"lnob.{name}", values[name]))
    cur.execute("set local timezone = 'UTC'")  # a timestamp without offset is UTC
    order = DATE_ORDERS.get(src.format.get("date_format", "%Y-%m-%d"), "YMD")
    cur.execute(f"set local datestyle = 'ISO, {order}'")


# --------------------------------------------------------------------------------------------
# Validate against the contract (the slow, careful path that names row and column)
# --------------------------------------------------------------------------------------------


def _check_value(ftype: str, value: str, date_format: str | None = None) -> str:
    """Return the value as COPY should see it, or raise ValueError naming what was expected."""
    if ftype == "integer":
        number = float(value)
        if not number.is_integer() or abs(number) >= 2**63:
            raise ValueError
        return str(int(number))
    if ftype == "numeric":
        float(value)
        return value
    if ftype == "date":
        if date_format:
            return datetime.strptime(value, date_format).date().isoformat()
        date.fromisoformat(value[:10])
        return value[:10]
    if ftype == "timestamp":
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value
    if ftype == "boolean":
        if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError
        return value
    return value


def _spool(src: Source, path: Path, spool) -> tuple[int, list[str]]:
    """Validate a delivery record by record against its contract and write COPY-ready CSV of
    its fields (and the overflow of unexpected ones) to ``spool``.

    Returns (rows, unexpected fields). Raises :class:`ContractViolation` naming every broken row
    and column (the first ``MAX_LISTED_ERRORS``, and how many in all).
    """
    date_format = src.format.get("date_format")
    labels = {f.label for f in src.fields}
    required = [f for f in src.fields if f.required]
    writer = csv.writer(spool, lineterminator="\n")
    errors: list[dict] = []
    total = 0
    rows = 0
    unexpected: dict[str, None] = {}
    present: set[str] = set()

    def fail(row: int | None, column: str | None, expected: str, found: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append({"row": row, "column": column, "expected": expected, "found": found[:80]})

    try:
        if src.kind == "csv":
            header, _ = readers.csv_header(path, src)
            missing = [f.label for f in required if f.label not in header]
            if missing:
                raise ContractViolation("missing_required_field", [
                    {"row": 1, "column": m, "expected": f"required column {m!r}", "found": f"header {header}"}
                    for m in missing])
        for number, record in readers.records(path, src):
            if "__width__" in record:
                fail(number, None, record["__expected__"], record["__width__"])
                continue
            present.update(k for k, v in record.items() if v not in (None, ""))
            out: list[str | None] = []
            bad = False
            for f in src.fields:
                value = record.get(f.label)
                value = value.strip() if isinstance(value, str) else value
                if value in (None, ""):
                    if f.required:
                        fail(number, f.label, "a value (required)", "empty")
                        bad = True
                    out.append(None)
                    continue
                try:
                    out.append(_check_value(f.type, value, date_format))
                except ValueError:
                    expected = f"a date {date_format}" if f.type == "date" and date_format else EXPECTED[f.type]
                    fail(number, f.label, expected, value)
                    bad = True
                    out.append(None)
            if bad:
                continue
            extra = {k: v for k, v in record.items() if k not in labels}
            for k in extra:
                unexpected.setdefault(k)
            out.append(json.dumps(extra, ensure_ascii=False) if extra else None)
            out.append(str(number))
            writer.writerow(["" if v is None else v for v in out])
            rows += 1
    except readers.UnreadableDelivery as exc:
        raise ContractViolation(exc.kind, [{"row": exc.row, "column": None, "expected": exc.expected,
                                            "found": exc.found}]) from None
    if src.kind != "csv" and rows:  # JSON and XLSX have no header: a required field never sent
        never = [f.label for f in required if f.label not in present]
        if never:
            raise ContractViolation("missing_required_field", [
                {"row": None, "column": m, "expected": f"required field {m!r}", "found": "absent in every record"}
                for m in never])
    if total:
        raise ContractViolation("contract_broken", errors, total)
    if rows == 0:
        raise ContractViolation("no_rows", [{"row": 2, "column": None, "expected": "at least one record",
                                             "found": "none"}])
    return rows, [k for k in unexpected if not k.startswith("__")]


# --------------------------------------------------------------------------------------------
# Load one delivery
# --------------------------------------------------------------------------------------------


def quarantine_file(cfg: Settings, delivery: Delivery, reason: dict) -> Path:
    """Keep the original file and its reason side by side; nothing a partner sent is lost."""
    folder = cfg.quarantine_dir / delivery.source_id / delivery.delivery_date
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (delivery.file_name if delivery.file_name.startswith(delivery.sha256[:12])
                       else f"{delivery.sha256[:12]}_{delivery.file_name}")
    if Path(delivery.path).resolve() != target.resolve():  # a retry reads the kept copy itself
        shutil.copy2(delivery.path, target)
    target.with_name(target.name + ".reason.json").write_text(json.dumps(reason, indent=2, default=str))
    return target


def _fast_copy(cur, src: Source, delivery: Delivery) -> int | None:
    """COPY a CSV delivery whose header is exactly its contract straight into the raw table:
    PostgreSQL parses, converts the encoding and checks the types; Python only hands it the
    bytes after the header. Returns the rows copied, or ``None`` when the file needs the careful
    path (its header drifted). A file PostgreSQL rejects raises ``psycopg2.DataError``."""
    cur.execute("savepoint fast_copy")
    header, offset = readers.csv_header(Path(delivery.path), src)
    by_label = {f.label: f for f in src.fields}
    if len(set(header)) != len(header) or any(h not in by_label for h in header):
        return None  # unexpected or duplicate columns: the careful path keeps them in _overflow
    if any(f.required and f.label not in header for f in src.fields):
        return None  # the careful path names the missing column
    if any(f.type == "date" and src.format.get("date_format") not in (None, *DATE_ORDERS) for f in src.fields):
        return None
    encoding = codecs.lookup(src.format.get("encoding", "utf-8")).name
    pg_encoding = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "latin-1": "LATIN1", "iso8859-1": "LATIN1",
                   "cp1252": "WIN1252", "iso8859-15": "LATIN9"}.get(encoding)
    if pg_encoding is None:
        return None
    columns = ", ".join(f'"{by_label[h].name}"' for h in header)
    delimiter = src.format.get("delimiter", ",").replace("'", "''")
    with open(delivery.path, "rb") as fh:
        fh.seek(offset)
        cur.copy_expert(
            f'copy {RAW_SCHEMA}."{src.raw_table}" ({columns}) from stdin '
            f"with (format csv, delimiter '{delimiter}', encoding '{pg_encoding}')", fh, size=1 << 20)
    rows = cur.rowcount
    # Required means present and non-empty; COPY cannot say that, one scan of tonight's rows can.
    checks = [f'"{f.name}" is null' + (f" or trim(\"{f.name}\") = ''" if f.type == "text" else "")
              for f in src.fields if f.required]
    if checks:
        cur.execute(f'select count(*) from {RAW_SCHEMA}."{src.raw_table}" '
                    f"where _delivery_id = current_setting('lnob.delivery_id')::bigint and ({' or '.join(checks)})")
        if cur.fetchone()[0]:
            raise psycopg2.DataError("a required field is empty")
    cur.execute("release savepoint fast_copy")
    return rows


def _careful_copy(cur, src: Source, delivery: Delivery) -> tuple[int, list[str]]:
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        rows, unexpected = _spool(src, Path(delivery.path), spool)
        spool.seek(0)
        names = ", ".join(f'"{f.name}"' for f in src.fields)
        cur.copy_expert(f'copy {RAW_SCHEMA}."{src.raw_table}" ({names}, "_overflow", "_row_number") '
                        "from stdin with (format csv)", spool, size=1 << 20)
    return rows, unexpected


def _supersede_edited(cur, src: Source, delivery_id: int) -> int:
    """A platform record edited after it was loaded (KoboToolbox `_id`, ODK Central `__id`, with
    `meta/deprecatedID`) arrives again with the same key: its earlier versions are marked
    ``_superseded_by`` this delivery, in the same transaction. Raw keeps every version."""
    key_label = src.format.get("key")
    key = next((f.name for f in src.fields if f.label == key_label), None) if key_label else None
    if key is None:
        return 0
    table = f'{RAW_SCHEMA}."{src.raw_table}"'
    cur.execute(f"""update {table} as old set _superseded_by = %(id)s
                    where old._delivery_id <> %(id)s and old._superseded_by is null
                      and old."{key}" in (select "{key}" from {table} where _delivery_id = %(id)s)""",
                {"id": delivery_id})
    return cur.rowcount


def load_delivery(conn, registry: Registry, delivery: Delivery, run_id: str | None = None,
                  cfg: Settings | None = None, retry_of: int | None = None) -> LoadResult:
    """Load one delivery in one transaction; quarantine it when it breaks its contract.

    ``retry_of`` is the ledger id of a quarantined delivery being retried (``lnob quarantine
    retry``): it keeps its id, and its ledger row says what happened this time.
    """
    cfg = cfg or settings()
    src = registry.source(delivery.source_id)
    result = LoadResult(delivery.source_id, delivery.partner_id, delivery.file_name,
                        delivery.delivery_date, outcome="loaded")
    with conn.cursor() as cur:
        meta.ensure(cur)
        # One loader per source at a time; different sources load in parallel.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"load:{src.id}",))
        cur.execute(
            f"select delivery_id, status from {META_SCHEMA}.delivery_ledger "
            "where source_id = %s and file_sha256 = %s and delivery_id is distinct from %s",
            (src.id, delivery.sha256, retry_of),
        )
        if cur.fetchone():
            conn.rollback()
            result.outcome = "duplicate"
            return result
        if retry_of is not None:
            delivery_id = retry_of
            cur.execute(f"delete from {META_SCHEMA}.delivery_ledger where delivery_id = %s", (retry_of,))
        else:
            cur.execute(f"select nextval(pg_get_serial_sequence('{META_SCHEMA}.delivery_ledger', 'delivery_id'))")
            delivery_id = cur.fetchone()[0]
        result.delivery_id = delivery_id
        ensure_raw_table(cur, src)
        _set_lineage(cur, src, delivery, delivery_id)
        # File line numbers: the first data line of a CSV is line 2.
        cur.execute("select setval(%s, 1, true)", (_row_sequence(src).replace('"', ""),))
        rows = unexpected = None
        try:
            try:
                if src.kind == "csv":
                    rows = _fast_copy(cur, src, delivery)
                    unexpected = []
            except (psycopg2.DataError, psycopg2.IntegrityError, readers.UnreadableDelivery):
                cur.execute("rollback to savepoint fast_copy")
                rows = None  # PostgreSQL refused it: the careful path names the row and column
            if rows is None:
                rows, unexpected = _careful_copy(cur, src, delivery)
        except ContractViolation as exc:
            conn.rollback()
            reason = {
                "partner": delivery.partner_id, "source": delivery.source_id,
                "file": delivery.path, "delivery_date": delivery.delivery_date,
                "sha256": delivery.sha256, "kind": exc.kind, "errors_total": exc.total,
                "errors": exc.errors,
            }
            target = quarantine_file(cfg, delivery, reason)
            with conn.cursor() as qcur:
                if retry_of is not None:  # the rollback brought the old row back: replace it
                    qcur.execute(f"delete from {META_SCHEMA}.delivery_ledger where delivery_id = %s", (retry_of,))
                qcur.execute(
                    f"""insert into {META_SCHEMA}.delivery_ledger
                        (delivery_id, source_id, partner_id, delivery_date, file_name, file_path,
                         file_sha256, status, reason, run_id)
                        values (%s, %s, %s, %s, %s, %s, %s, 'quarantined', %s, %s)""",
                    (delivery_id, src.id, delivery.partner_id, delivery.delivery_date,
                     delivery.file_name, str(target), delivery.sha256, json.dumps(reason), run_id),
                )
            conn.commit()
            result.outcome = "quarantined"
            result.reason = reason
            result.quarantine_path = str(target)
            return result
        _supersede_edited(cur, src, delivery_id)
        # A corrected re-delivery for the same source and date replaces the earlier one.
        cur.execute(
            f"""update {META_SCHEMA}.delivery_ledger set status = 'superseded'
                where source_id = %s and delivery_date = %s and file_name = %s and status = 'loaded'
                returning delivery_id""",
            (src.id, delivery.delivery_date, delivery.file_name),
        )
        superseded = [r[0] for r in cur.fetchall()]
        if superseded:
            cur.execute(f'delete from {RAW_SCHEMA}."{src.raw_table}" where _delivery_id = any(%s)',
                        (superseded,))
        cur.execute(
            f"""insert into {META_SCHEMA}.delivery_ledger
                (delivery_id, source_id, partner_id, delivery_date, file_name, file_path,
                 file_sha256, status, rows_loaded, unexpected_fields, run_id)
                values (%s, %s, %s, %s, %s, %s, %s, 'loaded', %s, %s, %s)""",
            (delivery_id, src.id, delivery.partner_id, delivery.delivery_date, delivery.file_name,
             delivery.path, delivery.sha256, rows, unexpected or None, run_id),
        )
    conn.commit()
    result.rows_loaded = rows
    result.superseded = superseded or None
    result.unexpected_fields = unexpected or None
    return result


def unload_delivery(conn, registry: Registry, delivery_id: int, reason: dict, cfg: Settings | None = None) -> str:
    """Take a loaded delivery back out of raw and quarantine it (a raw gate failed on it)."""
    cfg = cfg or settings()
    with conn.cursor() as cur:
        cur.execute(
            f"select source_id, partner_id, delivery_date, file_path, file_sha256 "
            f"from {META_SCHEMA}.delivery_ledger where delivery_id = %s for update",
            (delivery_id,),
        )
        source_id, partner_id, ddate, path, sha = cur.fetchone()
        src = registry.source(source_id)
        cur.execute(f'delete from {RAW_SCHEMA}."{src.raw_table}" where _delivery_id = %s', (delivery_id,))
        delivery = Delivery(source_id, partner_id, ddate.isoformat(), path, sha)
        target = quarantine_file(cfg, delivery, reason)
        cur.execute(
            f"""update {META_SCHEMA}.delivery_ledger
                set status = 'quarantined', reason = %s, file_path = %s, rows_loaded = 0
                where delivery_id = %s""",
            (json.dumps(reason, default=str), str(target), delivery_id),
        )
    conn.commit()
    return str(target)



def quarantined(conn) -> list[dict]:
    """Every quarantined delivery with its reason, newest first."""
    with conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute(f"""select delivery_id, source_id, partner_id, delivery_date, file_name, file_path,
                               reason, loaded_at
                        from {META_SCHEMA}.delivery_ledger where status = 'quarantined'
                        order by loaded_at desc, delivery_id desc""")
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def retry_quarantined(conn, registry: Registry, delivery_id: int, run_id: str | None = None,
                      cfg: Settings | None = None) -> LoadResult:
    """Load a quarantined delivery again from its kept copy (after the registry or the file was
    fixed); it loads, or stays quarantined with tonight's reason."""
    with conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute(f"""select source_id, partner_id, delivery_date, file_path, file_sha256, status
                        from {META_SCHEMA}.delivery_ledger where delivery_id = %s""", (delivery_id,))
        row = cur.fetchone()
    conn.rollback()
    if row is None:
        raise KeyError(f"no delivery {delivery_id} in the ledger (see `lnob quarantine list`)")
    source_id, partner_id, ddate, path, sha, status = row
    if status != "quarantined":
        raise ValueError(f"delivery {delivery_id} is {status}, not quarantined")
    delivery = Delivery(source_id, partner_id, ddate.isoformat(), path, sha)
    return load_delivery(conn, registry, delivery, run_id, cfg, retry_of=delivery_id)
