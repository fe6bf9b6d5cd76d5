"""Extract deliveries from the landing folder and load them into the raw layer.

A delivery is one file a partner dropped for one date. It loads in one transaction (all or
nothing) with PostgreSQL COPY into an unindexed raw table, every row carrying its lineage. The
delivery ledger makes a file that arrives twice load once, and a corrected re-delivery for the
same source and date replace the earlier one. A delivery that breaks its contract is not loaded:
it is copied to the quarantine folder with a machine-readable reason naming the partner, file,
row and column, and the rest of the night goes on.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import hmac
import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from lnob import meta
from lnob.config import META_SCHEMA, RAW_SCHEMA, Settings, settings
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
]
MAX_LISTED_ERRORS = 20


class ConfigurationError(RuntimeError):
    """The pipeline is misconfigured (not the partner's fault): the task must fail loudly."""


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


#: The delivery formats this loader reads. Sources in other formats wait for their connector and
#: are listed as such in the run summary; they are never half-loaded.
LOADABLE = {("file_drop", "csv"), ("open_sdg_csv", "csv")}


def loadable(src: Source) -> bool:
    return (src.type, src.kind) in LOADABLE


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
                if not loadable(src):
                    continue
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
# Parse and validate against the contract, streaming
# --------------------------------------------------------------------------------------------


def _pseudonym(key: bytes, partner_id: str, value: str) -> str:
    return hmac.new(key, f"{partner_id}\x1f{value}".encode(), hashlib.sha256).hexdigest()


def _check_value(ftype: str, value: str, date_format: str | None = None) -> str:
    """Return the value as COPY should see it, or raise ValueError naming what was expected."""
    if ftype == "text":
        return value
    if ftype == "integer":
        int(value)
        return value
    if ftype == "numeric":
        float(value)
        return value
    if ftype == "date":
        if date_format:
            return datetime.strptime(value, date_format).date().isoformat()
        date.fromisoformat(value)
        return value
    if ftype == "boolean":
        if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError
        return value
    return value


EXPECTED = {"integer": "a whole number", "numeric": "a number", "date": "a date YYYY-MM-DD",
            "boolean": "true/false", "text": "text", "timestamp": "a timestamp"}


def raw_columns(src: Source) -> list[tuple[str, str]]:
    cols: list[tuple[str, str]] = []
    for f in src.fields:
        cols.append((f.name, f.sql_type))
        if f.pseudonymise:
            cols.append((f"{f.name}_pid", "text"))
    return cols + LINEAGE_COLUMNS


def _spool_csv(src: Source, delivery: Delivery, delivery_id: int, key: bytes | None, spool) -> tuple[int, list[str]]:
    """Validate the delivery row by row and write COPY-ready CSV to ``spool``.

    Returns (rows, unexpected header fields). Raises :class:`ContractViolation` on a broken file.
    """
    fmt = src.format
    encoding = fmt.get("encoding", "utf-8")
    delimiter = fmt.get("delimiter", ",")
    date_format = fmt.get("date_format")
    errors: list[dict] = []
    total_errors = 0
    writer = csv.writer(spool, lineterminator="\n")
    lineage_tail = [delivery.partner_id, delivery.source_id, delivery.file_name]
    rows = 0
    line = 1
    try:
        with open(delivery.path, encoding=encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise ContractViolation("empty_file", [{"row": 1, "column": None,
                                        "expected": "a header row", "found": "an empty file"}]) from None
            header = [h.strip() for h in header]
            labels = {f.label for f in src.fields}
            missing = [f.label for f in src.fields if f.required and f.label not in header]
            if missing:
                raise ContractViolation("missing_required_field", [
                    {"row": 1, "column": m, "expected": f"required column {m!r}",
                     "found": f"header {header}"} for m in missing])
            unexpected = [h for h in header if h not in labels]
            index = {h: i for i, h in enumerate(header)}
            plan = [(f, index.get(f.label)) for f in src.fields]
            extra = [(h, index[h]) for h in unexpected]
            width = len(header)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    total_errors += 1
                    if len(errors) < MAX_LISTED_ERRORS:
                        errors.append({"row": line, "column": None,
                                       "expected": f"{width} fields", "found": f"{len(row)} fields"})
                    continue
                out: list[str] = []
                bad = False
                for f, i in plan:
                    value = row[i].strip() if i is not None else ""
                    if value == "":
                        if f.required:
                            total_errors += 1
                            bad = True
                            if len(errors) < MAX_LISTED_ERRORS:
                                errors.append({"row": line, "column": f.label,
                                               "expected": "a value (required)", "found": "empty"})
                        out.append("")
                        if f.pseudonymise:
                            out.append("")
                        continue
                    try:
                        out.append(_check_value(f.type, value, date_format))
                    except ValueError:
                        total_errors += 1
                        bad = True
                        if len(errors) < MAX_LISTED_ERRORS:
                            expected = EXPECTED[f.type]
                            if f.type == "date" and date_format:
                                expected = f"a date {date_format}"
                            errors.append({"row": line, "column": f.label,
                                           "expected": expected, "found": value[:80]})
                        out.append("")
                    if f.pseudonymise:
                        out.append(_pseudonym(key, delivery.partner_id, value) if key else "")
                if bad:
                    continue
                overflow = json.dumps({h: row[i] for h, i in extra}, ensure_ascii=False) if extra else ""
                writer.writerow(out + [delivery_id, *lineage_tail, line, delivery.sha256,
                                       delivery.delivery_date, overflow])
                rows += 1
    except UnicodeDecodeError as exc:
        raise ContractViolation("wrong_encoding", [{
            "row": line + 1, "column": None, "expected": f"text in {encoding}",
            "found": f"byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start} of a read block"}]) from None
    except csv.Error as exc:
        raise ContractViolation("malformed_csv", [{"row": line + 1, "column": None,
                                "expected": f"CSV delimited by {delimiter!r}", "found": str(exc)}]) from None
    if total_errors:
        raise ContractViolation("contract_broken", errors, total_errors)
    if rows == 0:
        raise ContractViolation("no_rows", [{"row": 2, "column": None, "expected": "at least one data row",
                                             "found": "a header only"}])
    return rows, unexpected


# --------------------------------------------------------------------------------------------
# Load one delivery
# --------------------------------------------------------------------------------------------


def ensure_raw_table(cur, src: Source) -> None:
    """Create the raw table of a source, or add the columns a grown contract declares."""
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw_ddl:{src.id}",))
    cols = raw_columns(src)
    ddl = ", ".join(f'"{n}" {t}' for n, t in cols)
    cur.execute(f'create table if not exists {RAW_SCHEMA}."{src.raw_table}" ({ddl}, '
                f'_loaded_at timestamptz not null default now())')
    for n, t in cols:
        cur.execute(f'alter table {RAW_SCHEMA}."{src.raw_table}" add column if not exists "{n}" {t}')


def quarantine_file(cfg: Settings, delivery: Delivery, reason: dict) -> Path:
    """Keep the original file and its reason side by side; nothing a partner sent is lost."""
    folder = cfg.quarantine_dir / delivery.source_id / delivery.delivery_date
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{delivery.sha256[:12]}_{delivery.file_name}"
    shutil.copy2(delivery.path, target)
    target.with_name(target.name + ".reason.json").write_text(json.dumps(reason, indent=2, default=str))
    return target


def load_delivery(conn, registry: Registry, delivery: Delivery, run_id: str | None = None,
                  cfg: Settings | None = None) -> LoadResult:
    """Load one delivery in one transaction; quarantine it when it breaks its contract."""
    cfg = cfg or settings()
    src = registry.source(delivery.source_id)
    needs_key = any(f.pseudonymise for f in src.fields)
    if needs_key and not cfg.pseudonym_key:
        raise ConfigurationError(
            "LNOB_PSEUDONYM_KEY is not set: person and household ids cannot be pseudonymised. "
            "Set it to a secret (e.g. `export LNOB_PSEUDONYM_KEY=$(python -c 'import secrets;"
            "print(secrets.token_hex(32))')`) and keep it out of the repository."
        )
    key = cfg.pseudonym_key.encode() if cfg.pseudonym_key else None
    result = LoadResult(delivery.source_id, delivery.partner_id, delivery.file_name,
                        delivery.delivery_date, outcome="loaded")
    with conn.cursor() as cur:
        meta.ensure(cur)
        # One loader per source at a time; different sources load in parallel.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"load:{src.id}",))
        cur.execute(
            f"select delivery_id, status from {META_SCHEMA}.delivery_ledger "
            "where source_id = %s and file_sha256 = %s",
            (src.id, delivery.sha256),
        )
        if cur.fetchone():
            conn.rollback()
            result.outcome = "duplicate"
            return result
        cur.execute(f"select nextval(pg_get_serial_sequence('{META_SCHEMA}.delivery_ledger', 'delivery_id'))")
        delivery_id = cur.fetchone()[0]
        result.delivery_id = delivery_id
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
            try:
                rows, unexpected = _spool_csv(src, delivery, delivery_id, key, spool)
            except ContractViolation as exc:
                reason = {
                    "partner": delivery.partner_id, "source": delivery.source_id,
                    "file": delivery.path, "delivery_date": delivery.delivery_date,
                    "sha256": delivery.sha256, "kind": exc.kind, "errors_total": exc.total,
                    "errors": exc.errors,
                }
                target = quarantine_file(cfg, delivery, reason)
                cur.execute(
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
            ensure_raw_table(cur, src)
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
            spool.seek(0)
            names = ", ".join(f'"{n}"' for n, _ in raw_columns(src))
            cur.copy_expert(
                f'copy {RAW_SCHEMA}."{src.raw_table}" ({names}) from stdin with (format csv)', spool
            )
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

