"""Extract deliveries from the landing folder and load them into the raw layer.

A delivery is one file a partner dropped for one date. It loads in one transaction (all or
nothing) with PostgreSQL COPY into an unindexed raw table, every row carrying its lineage. The
delivery ledger makes a file that arrives twice load once (same source, same sha256). For a file
drop, a corrected re-delivery (same source, date and file name, new content) replaces the earlier
one, and the ledger says by which delivery. A page fetched from an API (KoboToolbox, ODK Central,
the UN SDG API) is identified by its content alone: a re-fetch never removes what an earlier fetch
loaded, and an edited submission supersedes its earlier versions by its key. A delivery that breaks its contract is not loaded:
it is copied to the quarantine folder with a machine-readable reason naming the partner, file,
row and column, and the rest of the night goes on.
"""

from __future__ import annotations

import codecs
import csv
import errno
import fnmatch
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import psycopg2

from lnob.ingest import landing, ledger, readers
from lnob.platform import meta
from lnob.platform.config import META_SCHEMA, RAW_SCHEMA, ConfigurationError, Settings, settings  # noqa: F401
from lnob.registry import API_TYPES, Registry, Source, vocabulary
from lnob.transform import masking

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

    def reason(self, kind: str, **detail) -> dict:
        """A quarantine reason: whose file this is, what went wrong (``kind``), then ``detail``."""
        return {
            "partner": self.partner_id,
            "source": self.source_id,
            "file": self.path,
            "delivery_date": self.delivery_date,
            "sha256": self.sha256,
            "kind": kind,
            **detail,
        }


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
    #: Survey platforms: submissions delivered, loaded, loaded but rejected by the partner's
    #: reviewers (kept in raw, left out of every estimate), quarantined alone.
    submissions: dict | None = None
    quarantined_submissions: list[dict] | None = None  # [{"submission", "quarantine_path", "reason"}]


class ContractViolation(Exception):
    """A delivery broke its source's contract; ``errors`` name row, column, expected, found."""

    def __init__(self, kind: str, errors: list[dict], total: int | None = None):
        self.kind = kind
        self.errors = errors
        self.total = total if total is not None else len(errors)
        super().__init__(kind)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a delivery, read without following links (:func:`lnob.ingest.landing.open_regular`)."""
    digest = hashlib.sha256()
    with landing.open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Extract: what is new in the landing folder
# --------------------------------------------------------------------------------------------


def discover(
    registry: Registry, landing_dir: Path, up_to: date, rejected: list[landing.Rejected] | None = None
) -> list[Delivery]:
    """Every file-drop delivery in ``<landing>/<partner>/<YYYY-MM-DD>/`` dated on or before
    ``up_to`` (a late delivery for an earlier date is picked up too), by partner, then date.

    Only regular files inside the landing folder are read (:func:`lnob.ingest.landing.scan`): what is
    refused (a link, a device, an unsafe name, an unknown partner folder, a file no source
    expects, one that cannot be read) is appended to ``rejected`` with why, and never opened."""
    patterns = {p: [s.file_pattern for s in registry.sources_of(p)] for p in registry.partners}
    files, refused = landing.scan(landing_dir, set(registry.partners), up_to, patterns)
    readable: dict[tuple[str, date], list[tuple[landing.Found, str]]] = {}
    for f in files:  # partner, then date, then file name
        try:
            sha = file_sha256(f.path)
        except OSError as exc:
            refused.append(
                landing.Rejected(
                    landing.safe_name(f"{f.partner_id}/{f.day}/{f.path.name}", 400),
                    f"cannot be read: {exc.strerror or exc}",
                    f.partner_id,
                )
            )
            continue
        readable.setdefault((f.partner_id, f.day), []).append((f, sha))
    found: list[Delivery] = []
    for (partner_id, day), group in readable.items():
        for src in registry.sources_of(partner_id):
            found += [
                Delivery(src.id, partner_id, day.isoformat(), str(f.path), sha)
                for f, sha in group
                if fnmatch.fnmatch(f.path.name, src.file_pattern)
            ]
    if rejected is not None:
        rejected.extend(refused)
    return found


def known_sha256s(conn, source_ids: Iterable[str]) -> set[tuple[str, str]]:
    with conn.cursor() as cur:
        meta.ensure(cur)
        return ledger.known_sha256s(cur, source_ids)


def new_deliveries(
    conn, registry: Registry, landing_dir: Path, up_to: date, rejected: list[landing.Rejected] | None = None
) -> tuple[list[Delivery], int]:
    """The deliveries not yet in the ledger, and how many found ones were already known; the
    landing entries refused on the way are appended to ``rejected`` (see :func:`discover`)."""
    found = discover(registry, landing_dir, up_to, rejected)
    known = known_sha256s(conn, registry.sources)
    fresh = [d for d in found if (d.source_id, d.sha256) not in known]
    return fresh, len(found) - len(fresh)


# --------------------------------------------------------------------------------------------
# The raw table of a source
# --------------------------------------------------------------------------------------------

EXPECTED = {
    "integer": "a whole number",
    "numeric": "a number",
    "date": "a date YYYY-MM-DD",
    "boolean": "true/false",
    "text": "text",
    "timestamp": "a timestamp",
}
#: strftime date orders the loader understands, as PostgreSQL DateStyle field orders.
DATE_ORDERS = {
    "%d/%m/%Y": "DMY",
    "%d.%m.%Y": "DMY",
    "%d-%m-%Y": "DMY",
    "%m/%d/%Y": "MDY",
    "%Y-%m-%d": "YMD",
    "%Y/%m/%d": "YMD",
}
#: Lineage the loader sets per delivery; the raw table's column defaults read them, so that COPY
#: fills them for every row without the file passing through Python.
_LINEAGE_SETTINGS = ("delivery_id", "partner_id", "source_id", "file_name", "file_sha256", "delivery_date")


def raw_columns(src: Source) -> list[tuple[str, str]]:
    return [(f.name, f.sql_type) for f in src.fields] + LINEAGE_COLUMNS


def _row_sequence(src: Source) -> str:
    return f'{RAW_SCHEMA}."{src.raw_table}__row_number"'


class RawMigrationError(ConfigurationError):
    """The raw table cannot follow its contract without losing data (a narrowing type change
    some loaded values do not fit): the message names source, column, types and sample values."""


#: Casts from a raw column's type to a contract's that always succeed (widening): no check needed.
_SAFE_CASTS = {
    ("bigint", "double precision"),
    ("bigint", "text"),
    ("double precision", "text"),
    ("date", "text"),
    ("boolean", "text"),
    ("timestamp with time zone", "text"),
    ("date", "timestamp with time zone"),
    ("integer", "bigint"),
    ("integer", "text"),
}
#: How PostgreSQL spells the registry's SQL types (format_type).
_PG_TYPE = {"timestamptz": "timestamp with time zone"}


def _existing_columns(cur, table: str) -> dict[str, str]:
    cur.execute(
        """select attname, format_type(atttypid, atttypmod) from pg_attribute
                   where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped""",
        (table,),
    )
    return dict(cur.fetchall())


def _migrate_column(cur, src: Source, table: str, column: str, old: str, new: str) -> None:
    """Change one raw column's type to the contract's, casting every loaded value. A narrowing
    change that some values do not fit stops here, naming them, before anything is altered."""

    def refuse(count, samples: list[str]) -> RawMigrationError:
        return RawMigrationError(
            f"{src.id} ({src.partner}): the registry now declares field {column!r} as {new}, but "
            f"{count} value(s) already loaded in {table}.{column} ({old}) are not {new}, e.g. "
            f"{[str(v)[:40] for v in samples]}: correct the contract, or unload those deliveries "
            "(`lnob delivery unload <id>`) before the next load"
        )

    if (old, new) not in _SAFE_CASTS and cur.connection.server_version >= 160000:  # pg_input_is_valid
        cur.execute(
            f"""select "{column}"::text, count(*) over () from {table}
                        where "{column}" is not null and not pg_input_is_valid("{column}"::text, %s)
                        limit 5""",
            (new,),
        )
        bad = cur.fetchall()
        if bad:
            raise refuse(bad[0][1], [b[0] for b in bad])
    cast = f'"{column}"::text::{new}' if new != "text" else f'"{column}"::text'
    cur.execute("savepoint migrate_column")
    try:
        cur.execute(f'alter table {table} alter column "{column}" type {new} using {cast}')
    except psycopg2.DataError as exc:  # PostgreSQL < 16: no pre-check, the cast itself refuses
        cur.execute("rollback to savepoint migrate_column")
        raise refuse("some", [(exc.diag.message_primary or str(exc)).strip()]) from None
    cur.execute("release savepoint migrate_column")


def ensure_raw_table(cur, src: Source) -> list[str]:
    """Create the raw table of a source, or make it follow a changed contract; returns the
    changes made (``added x bigint``, ``x: bigint -> text``).

    A field the contract adds becomes a column; a field whose type changed is migrated in place
    with a cast (PostgreSQL checks every loaded value; a narrowing change some value does not fit
    raises :class:`RawMigrationError` naming source, column and values). A field the contract
    removes keeps its column and history; nothing requires it any more (the loader no longer
    writes it, and the raw gate follows the contract).

    Append-only, indexed by delivery and (where records have one) by record key. Lineage columns
    default to the loader's per-delivery settings and the row number to a per-source sequence the
    loader resets before each delivery (loads of one source are serialised by an advisory lock),
    so a plain COPY of the partner's file fills them.
    """
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw_ddl:{src.id}",))
    table = f'{RAW_SCHEMA}."{src.raw_table}"'
    defaults = {
        "_delivery_id": "current_setting('lnob.delivery_id')::bigint",
        "_partner_id": "current_setting('lnob.partner_id')",
        "_source_id": "current_setting('lnob.source_id')",
        "_file_name": "current_setting('lnob.file_name')",
        "_row_number": f"nextval('{_row_sequence(src)}')",
        "_file_sha256": "current_setting('lnob.file_sha256')",
        "_delivery_date": "current_setting('lnob.delivery_date')::date",
    }
    existing = _existing_columns(cur, table)
    changes: list[str] = []
    if not existing:
        cur.execute(f"create sequence if not exists {_row_sequence(src)}")
        cols = [f'"{n}" {t}' for n, t in raw_columns(src)]
        cur.execute(
            f"create table if not exists {table} ({', '.join(cols)}, "
            "_loaded_at timestamptz not null default now())"
        )
        for n, expr in defaults.items():
            cur.execute(f'alter table {table} alter column "{n}" set default {expr}')
        _ensure_indexes(cur, src, table)
        return [f"created {table}"]
    # Only what differs is altered: ALTER TABLE locks the table, and a night's loads and the
    # transform call this for every source.
    for n, t in raw_columns(src):
        want = _PG_TYPE.get(t, t)
        have = existing.get(n)
        if have is None:
            cur.execute(f'alter table {table} add column if not exists "{n}" {t}')
            changes.append(f"added {n} {want}")
        elif have != want:
            _migrate_column(cur, src, table, n, have, want)
            changes.append(f"{n}: {have} -> {want}")
    if "_loaded_at" not in existing:
        cur.execute(f"alter table {table} add column _loaded_at timestamptz not null default now()")
    cur.execute(
        """select a.attname, pg_get_expr(d.adbin, d.adrelid) from pg_attribute a
                   left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                   where a.attrelid = to_regclass(%s) and a.attnum > 0""",
        (table,),
    )
    have_defaults = dict(cur.fetchall())
    cur.execute(f"create sequence if not exists {_row_sequence(src)}")
    for n, expr in defaults.items():
        if have_defaults.get(n) is None:
            cur.execute(f'alter table {table} alter column "{n}" set default {expr}')
    _ensure_indexes(cur, src, table)
    return changes


def _key_field(src: Source):
    """The field holding a platform record's key (``format.key``: KoboToolbox `_id`, ODK `__id`)."""
    key_label = src.format.get("key")
    return next((f for f in src.fields if f.label == key_label), None) if key_label else None


def _ensure_indexes(cur, src: Source, table: str) -> None:
    """The indexes of a raw table: its deliveries, and its record key for a source whose records
    have one.

    - ``_delivery_id``: the raw gate reads the deliveries not gated yet, and staging, unloading and
      quarantine read one delivery; without it each of them scanned the whole table (a raw gate
      query at a million persons read 288 MB for the 2,530 rows of tonight's pages).
    - the record key: each delivery marks the earlier versions of its records
      (:func:`_supersede_edited`); without it, every API page scanned the whole table, and a
      night of pages took quadratic time."""
    wanted = {f"{src.raw_table}__delivery"[:63]: "_delivery_id"}
    key = _key_field(src)
    if key is not None:
        wanted[f"{src.raw_table}__key"[:63]] = key.name
    for name, column in wanted.items():
        cur.execute("select to_regclass(%s)", (f'{RAW_SCHEMA}."{name}"',))
        if cur.fetchone()[0] is None:
            cur.execute(f'create index if not exists "{name}" on {table} ("{column}")')


def _set_lineage(cur, src: Source, delivery: Delivery, delivery_id: int) -> None:
    values = dict(
        delivery_id=str(delivery_id),
        partner_id=delivery.partner_id,
        source_id=src.id,
        file_name=delivery.file_name,
        file_sha256=delivery.sha256,
        delivery_date=delivery.delivery_date,
    )
    order = DATE_ORDERS.get(src.format.get("date_format", "%Y-%m-%d"), "YMD")
    settings_ = [(f"lnob.{name}", values[name]) for name in _LINEAGE_SETTINGS]
    settings_ += [
        ("timezone", "UTC"),  # a timestamp without offset is UTC
        ("datestyle", f"ISO, {order}"),
    ]
    # One round trip for all of them (SET LOCAL is set_config(..., true)): a night of API pages
    # is hundreds of deliveries.
    cur.execute(
        "select " + ", ".join("set_config(%s, %s, true)" for _ in settings_),
        [v for pair in settings_ for v in pair],
    )


# --------------------------------------------------------------------------------------------
# Validate against the contract (the slow, careful path that names row and column)
# --------------------------------------------------------------------------------------------


#: Fields that hold a reference period (SDMX TIME_PERIOD, an Open SDG Year): checked against the
#: period window like every date.
PERIOD_FIELDS = {"time_period", "year"}
_YEAR_PREFIX = re.compile(r"^\s*(\d{4})(?!\d)")


@dataclass(frozen=True)
class Limits:
    """What a plausible value is: dates and periods within ``min_year``..``max_year``, numbers
    finite and within ``max_abs``. The window is configurable (LNOB_PERIOD_MIN_YEAR,
    LNOB_PERIOD_MAX_YEAR, by default the delivery's year + 1; LNOB_NUMERIC_MAX_ABS)."""

    min_year: int
    max_year: int
    max_abs: float

    @classmethod
    def of(cls, cfg: Settings, delivery_date: str) -> Limits:
        night_year = date.fromisoformat(delivery_date).year
        return cls(cfg.period_min_year, cfg.period_max_year or night_year + 1, cfg.numeric_max_abs)

    @property
    def window(self) -> str:
        return f"{self.min_year}..{self.max_year}"


class BadValue(ValueError):
    """A value its field cannot hold: what was expected and, when the value itself must not be
    shown, what to say it was instead."""

    def __init__(self, expected: str | None = None, found: str | None = None):
        self.expected, self.found = expected, found
        super().__init__(expected or "")


def _check_year(year: int, limits: Limits | None) -> None:
    if limits is not None and not limits.min_year <= year <= limits.max_year:
        raise BadValue(
            f"a date or period within the years {limits.window} (LNOB_PERIOD_MIN_YEAR/MAX_YEAR)",
            f"year {year}",
        )


def _check_number(number: float, limits: Limits | None) -> None:
    if math.isnan(number):
        raise BadValue("a finite number", "NaN")
    if math.isinf(number):
        raise BadValue("a finite number", "infinity")
    if limits is not None and abs(number) > limits.max_abs:
        raise BadValue(
            f"a number within ±{limits.max_abs:g} (LNOB_NUMERIC_MAX_ABS)",
            f"a number of magnitude 1e{math.floor(math.log10(abs(number))):+d}",
        )


def _check_value(
    ftype: str, value: str, date_format: str | None = None, limits: Limits | None = None, period: bool = False
) -> str:
    """Return the value as COPY should see it, or raise ValueError (a :class:`BadValue` naming
    what was expected) when its field cannot hold it: a wrong type, a non-finite or implausibly
    large number, a date or (for a period field) a year outside the period window."""
    if ftype == "integer":
        number = float(value)
        _check_number(number, limits)
        if not number.is_integer() or abs(number) >= 2**63:
            raise ValueError
        if period:
            _check_year(int(number), limits)
        return str(int(number))
    if ftype == "numeric":
        number = float(value)
        _check_number(number, limits)
        if period and number.is_integer():
            _check_year(int(number), limits)
        return value
    if ftype == "date":
        if date_format:
            parsed = datetime.strptime(value, date_format).date()
            _check_year(parsed.year, limits)
            return parsed.isoformat()
        parsed = date.fromisoformat(value[:10])
        _check_year(parsed.year, limits)
        return value[:10]
    if ftype == "timestamp":
        _check_year(datetime.fromisoformat(value.replace("Z", "+00:00")).year, limits)
        return value
    if ftype == "boolean":
        if value.lower() not in {"true", "false", "1", "0", "yes", "no"}:
            raise ValueError
        return value
    if period:
        m = _YEAR_PREFIX.match(value)
        if m:
            _check_year(int(m.group(1)), limits)
    return value


def _found(value: str | None, field, record: dict) -> str:
    """A masked excerpt of a value for a reason: shape only when the field is sensitive or the
    value is one the record holds in a sensitive field (a name typed in the wrong column)."""
    sensitive = masking.is_sensitive(field)
    if not sensitive and value:
        folded = value.strip().casefold()
        sensitive = any(
            isinstance(v, str)
            and len(v.strip()) >= 3
            and (v.strip().casefold() in folded or folded in v.strip().casefold())
            for k, v in record.items()
            if k in record.get("__sensitive_labels__", ())
        )
    return masking.excerpt(value, sensitive)


def _missing_column(label: str, header: list[str]) -> dict:
    import difflib

    close = difflib.get_close_matches(label.casefold(), [h.casefold() for h in header if len(h) <= 64], n=1)
    hint = f"; closest: {masking.excerpt(close[0])!r}" if close else ""
    return {
        "row": 1,
        "column": label,
        "expected": f"required column {label!r}",
        "found": f"a header of {len(header)} columns without it{hint}",
    }


#: Open SDG periods: a year, a quarter (`2024 Q1`, `2024-Q1`) or a month (`2024-03`).
OPEN_SDG_PERIOD = re.compile(r"^\d{4}(?:\s*-?\s*Q[1-4]|-(?:0[1-9]|1[0-2]))?$", re.IGNORECASE)


def _open_sdg_row(src: Source, record: dict) -> list[tuple[str, str, str]]:
    """What an Open SDG row breaks beyond its typed fields, as (column, expected, found): a period
    that is neither a year, a quarter nor a month; a blank Value that no observation status
    explains (a missing figure is kept only with its reason, never as a silent gap)."""
    out = []
    year_field = next((f for f in src.fields if f.name == "year"), None)
    if year_field is not None:
        year = (record.get(year_field.label) or "").strip()
        if year and not OPEN_SDG_PERIOD.match(year):
            out.append(
                (
                    year_field.label,
                    "a year (2024), a quarter (2024 Q1) or a month (2024-03)",
                    masking.excerpt(year),
                )
            )
    value_field = next((f for f in src.fields if f.name == "value"), None)
    if value_field is not None and not (record.get(value_field.label) or "").strip():
        statuses = vocabulary.status_labels(src.vocabulary)
        if not any((v or "").strip() for k, v in record.items() if k.strip().casefold() in statuses):
            out.append(
                (
                    value_field.label,
                    "a value, or an observation status saying why it is missing "
                    "(a column such as 'Observation status')",
                    "empty, and no observation status",
                )
            )
    return out


@dataclass
class Spooled:
    """What the careful path made of a delivery: the rows written for COPY, the fields the
    contract does not declare, and (survey platforms) the submissions quarantined alone."""

    rows: int
    unexpected: list[str]
    submissions: dict | None = None  # {"delivered", "loaded", "rejected", "quarantined"}
    bad_submissions: list[dict] | None = None  # [{"index", "key", "errors": [...]}]
    keys: set[str] | None = None  # the record keys written (sources with a key field), as loaded


#: Sources whose pages are lists of submissions, each checked and quarantined on its own.
SUBMISSION_KINDS = {"kobo_json", "odata_json"}
#: The review state that keeps a submission out of every estimate (see the registry header).
REJECTED = "rejected"


_PLATFORM_ID = re.compile(r"[A-Za-z0-9:_.-]{1,64}")


def submission_id(key: str | None) -> str:
    """A submission's platform id (KoboToolbox `_id`, ODK Central `__id`) as a reason shows it:
    verbatim when it looks like one (a number, a `uuid:...`), else only its shape (a partner could
    have put anything there)."""
    if not key:
        return "(none)"
    return key if _PLATFORM_ID.fullmatch(key) else masking.shape(key)


def _review_state(src: Source, value: str | None) -> str | None:
    """A submission's review state in the registry's canonical words (its code map applied)."""
    f = next((f for f in src.fields if f.name == "review_state"), None)
    if f is None or not value:
        return None
    if f.codes and f.codes in src.codes:
        return src.codes[f.codes].codes.get(value.strip().lower(), value)
    return value


#: Formats read with Python's strict JSON parser: a NUL can only be written as a ``\\u0000`` escape.
JSON_KINDS = {"json", "jsonl", "kobo_json", "odata_json", "unsd_json"}
#: ``json.dumps(value, ensure_ascii=False)``, its encoder built once.
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def _no_nul_escape(path: Path) -> bool:
    """True when a JSON file holds no ``\\u0000`` escape: strict JSON refuses a raw control
    character, so none of its keys or values can hold a NUL byte (one scan of the bytes instead of
    one per value)."""
    needle = b"\\u0000"
    tail = b""
    with landing.open_regular(path) as fh:  # in blocks: a JSON Lines file can be large
        for block in iter(lambda: fh.read(1 << 20), b""):
            data = tail + block
            if needle in data:
                return False
            tail = data[-(len(needle) - 1) :]
    return True


#: Formats whose file is one JSON document (a page), parsed whole by its reader.
PAGE_KINDS = {"json", "kobo_json", "odata_json", "unsd_json"}
_BAD = object()


def _check_columns(
    plans: list, records: list[dict], date_format: str | None, limits: Limits | None
) -> list[list | None]:
    """The page's records checked field by field, one column at a time (a list comprehension per
    field instead of a loop per value): for each record, its values as COPY should see them, or
    ``None`` when anything in it would be refused or is not an ordinary record (a reader's marker
    of an empty repeat group, a required field empty, a value its type cannot hold). Those records
    go through :func:`_spool`'s record-by-record checks, which name row and column; this only
    spares the clean ones from them, and gives exactly what those checks give for them."""
    n = len(records)
    if not n:
        return []
    ok = [
        not (readers.EMPTY_REPEAT in r and r[readers.EMPTY_REPEAT]) and "__width__" not in r for r in records
    ]
    text, check = readers.text, _check_value
    columns = []
    for _f, label, ftype, required, period in plans:
        get = readers.lookup_of(label)
        raw = [r[label] if label in r else get(r) for r in records]
        raw = [v if v is None or type(v) is str else text(v) for v in raw]
        values = [(v.strip() or None) if v else None for v in raw]
        if required:
            for i, v in enumerate(values):
                if v is None:
                    ok[i] = False
        if ftype != "text" or period:
            # A page repeats its values (ages, dates, a household's fields on every member): each
            # distinct value is checked once (the check depends on nothing else).
            seen: dict = {}

            def convert(v, ftype=ftype, period=period, seen=seen):
                out = seen.get(v, _BAD)
                if out is _BAD and v not in seen:
                    try:
                        out = check(ftype, v, date_format, limits, period)
                    except ValueError:
                        out = _BAD
                    seen[v] = out
                return out

            values = [None if v is None else convert(v) for v in values]
            for i, v in enumerate(values):
                if v is _BAD:
                    ok[i] = False
        columns.append(values)
    return [list(row) if good else None for good, row in zip(ok, zip(*columns, strict=True), strict=True)]


class _SpoolState:
    """What :func:`_spool` has written and found so far: the rows written (and their keys), the
    errors of a file drop, and (survey platforms) the submission being read, whose rows wait until
    it is known to be whole, and those left out."""

    def __init__(self, src: Source, spool):
        self.sensitive_labels = masking.sensitive_labels(src)  # what a reason's excerpt masks
        self.per_submission = src.kind in SUBMISSION_KINDS
        self.key_label = src.format.get("key")
        key_field = _key_field(src)
        self.key_index = src.fields.index(key_field) if key_field is not None else None
        self.writer = csv.writer(spool, lineterminator="\n")
        self.errors: list[dict] = []
        self.total = 0
        self.rows = 0
        self.keys: set[str] = set()
        self.unexpected: dict[str, None] = {}
        self.current: dict = {"index": None, "key": None, "rows": [], "errors": [], "rejected": False}
        self.bad: list[dict] = []
        self.counts = {"delivered": 0, "loaded": 0, "rejected": 0, "quarantined": 0}

    def fail(self, row: int | None, column: str | None, expected: str, found: str) -> None:
        error = {"row": row, "column": column, "expected": expected, "found": found[:80]}
        if self.per_submission:
            label = f"{self.key_label or 'submission'} {submission_id(self.current['key'])}"
            self.current["errors"].append({"submission": label, **error})
            return
        self.total += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(error)

    def begin(self, record: dict) -> None:
        """A survey platform's record that starts another submission closes the one before."""
        if self.per_submission and record.get(readers.SUBMISSION) != self.current["index"]:
            self.close_submission()
            self.current["index"], self.current["key"] = (
                record.get(readers.SUBMISSION),
                record.get(readers.SUBMISSION_KEY),
            )

    def close_submission(self) -> None:
        current = self.current
        if current["index"] is None:
            return
        self.counts["delivered"] += 1
        if current["errors"]:
            self.counts["quarantined"] += 1
            self.bad.append(
                {
                    "index": current["index"],
                    "key": current["key"],
                    "errors": current["errors"][:MAX_LISTED_ERRORS],
                    "errors_total": len(current["errors"]),
                }
            )
        else:
            self.counts["rejected" if current["rejected"] else "loaded"] += 1
            for out in current["rows"]:
                self._write(out)
        current.update(index=None, key=None, rows=[], errors=[], rejected=False)

    def emit(self, out: list, record: dict, number, skip: set[str]) -> None:
        """A checked record's row, completed with its overflow (the fields the contract does not
        declare) and its line number: written, or held with its submission."""
        extra = {k: v for k, v in record.items() if k not in skip}
        if extra:
            self.unexpected.update(dict.fromkeys(extra))
            out.append(_dumps(extra))
        else:
            out.append(None)
        out.append(str(number))
        if self.per_submission:  # csv writes None as an empty field, as it writes ""
            self.current["rows"].append(out)
        else:
            self._write(out)

    def _write(self, out: list) -> None:
        self.writer.writerow(out)
        self.rows += 1
        if self.key_index is not None and out[self.key_index]:
            self.keys.add(out[self.key_index])

    def result(self, src: Source, required: list, present: set[str]) -> Spooled:
        """What was spooled, or :class:`ContractViolation` when the delivery (or page) as a whole
        breaks its contract."""
        if self.per_submission and self.bad and self.rows == 0:  # nothing of the page is whole
            listed = [e for b in self.bad for e in b["errors"]]
            raise ContractViolation(
                "contract_broken", listed[:MAX_LISTED_ERRORS], sum(b["errors_total"] for b in self.bad)
            )
        if src.kind != "csv" and self.rows:  # JSON and XLSX have no header: a required field never sent
            never = [f.label for f in required if f.label not in present]
            if never:
                raise ContractViolation(
                    "missing_required_field",
                    [
                        {
                            "row": None,
                            "column": m,
                            "expected": f"required field {m!r}",
                            "found": "absent in every record",
                        }
                        for m in never
                    ],
                )
        if self.total:
            raise ContractViolation("contract_broken", self.errors, self.total)
        if self.rows == 0 and self.counts["rejected"] == 0:
            raise ContractViolation(
                "no_rows", [{"row": 2, "column": None, "expected": "at least one record", "found": "none"}]
            )
        return Spooled(
            self.rows,
            [k for k in self.unexpected if not k.startswith("__")],
            self.counts if self.per_submission else None,
            self.bad or None,
            self.keys if self.key_index is not None else None,
        )


def _nul_key(record: dict) -> str | None:
    """The first key whose value holds a NUL byte (PostgreSQL text and jsonb cannot hold it)."""
    return next(
        (
            k
            for k, v in record.items()
            if (isinstance(v, str) and "\x00" in v)
            or (isinstance(v, (dict, list)) and "\\u0000" in json.dumps(v))
        ),
        None,
    )


def _refused_record(record: dict, labels: set[str], nul_free: bool) -> tuple[str, str, str] | None:
    """(column, expected, found) when a record cannot be loaded whatever its fields hold: a NUL
    byte anywhere (unless the file is known to hold none), an empty repeat group."""
    nul = None if nul_free else _nul_key(record)
    if nul is not None:  # PostgreSQL text and jsonb cannot hold it (CharacterNotInRepertoire)
        return (nul if nul in labels else masking.excerpt(nul), "text without NUL bytes", "a NUL byte")
    if record.get(readers.EMPTY_REPEAT):
        repeat = record[readers.EMPTY_REPEAT]
        return (repeat, f"at least one member in the repeat group {repeat!r}", "no members")
    return None


def _record_row(
    state: _SpoolState,
    src: Source,
    plans: list,
    record: dict,
    number,
    absent: set[str],
    present: set[str],
    date_format: str | None,
    limits: Limits | None,
) -> list | None:
    """A record's values as COPY should see them, checked field by field; ``None`` when any is
    refused (each refusal is reported to ``state`` with its row and column). A required field
    holding a value moves from ``absent`` to ``present``."""
    lookup, text, check = readers.lookup, readers.text, _check_value
    fail = state.fail
    out: list[str | None] = []
    bad_row = False
    for f, label, ftype, req, period in plans:
        if label in record:
            value = record[label]
            if type(value) is not str:
                value = text(value)
        else:
            value = lookup(record, label)
        if value:
            value = value.strip()
        if not value:
            if req:
                fail(number, label, "a value (required)", "empty")
                bad_row = True
            out.append(None)
            continue
        if req and absent:
            present.add(label)
            absent.discard(label)
        if ftype == "text" and not period:
            out.append(value)  # what _check_value returns for text: the value itself
            continue
        try:
            out.append(check(ftype, value, date_format, limits, period))
        except ValueError as exc:
            expected = f"a date {date_format}" if ftype == "date" and date_format else EXPECTED[ftype]
            if isinstance(exc, BadValue) and exc.expected:
                expected = exc.expected
            found = (
                exc.found
                if isinstance(exc, BadValue) and exc.found
                else _found(value, f, {**record, "__sensitive_labels__": state.sensitive_labels})
            )
            fail(number, label, expected, found)
            bad_row = True
            out.append(None)
    if not bad_row and src.type == "open_sdg_csv":
        for column, expected, found in _open_sdg_row(src, record):
            fail(number, column, expected, found)
            bad_row = True
    return None if bad_row else ["" if v is None else v for v in out]


def _spool(src: Source, path: Path, spool, limits: Limits | None = None) -> Spooled:
    """Validate a delivery record by record against its contract and write COPY-ready CSV of
    its fields (and the overflow of unexpected ones, JSON objects and arrays as they are) to
    ``spool``.

    A file drop loads whole or not at all: raises :class:`ContractViolation` naming every broken
    row and column (the first ``MAX_LISTED_ERRORS``, and how many in all), with a masked excerpt of
    what was found (:mod:`lnob.transform.masking`): no name or phone number reaches a reason. A survey
    platform's page (KoboToolbox, ODK Central) is checked submission by submission: a broken
    submission is left out and listed in ``bad_submissions`` (named by its id, with its errors),
    the page's others load; only a page that is unreadable, or whose every submission is broken,
    raises.
    """
    date_format = src.format.get("date_format")
    labels = {f.label for f in src.fields}
    required = [f for f in src.fields if f.required]
    review_field = next((f for f in src.fields if f.name == "review_state"), None)
    state = _SpoolState(src, spool)
    fail = state.fail
    present: set[str] = set()

    try:
        if src.kind == "csv":
            header, _ = readers.csv_header(path, src)
            missing = [f.label for f in required if f.label not in header]
            if missing:
                raise ContractViolation(
                    "missing_required_field", [_missing_column(m, header) for m in missing]
                )
        # Per-field plans, computed once (a registry Field's label is a property).
        plans = [(f, f.label, f.type, f.required, f.name in PERIOD_FIELDS) for f in src.fields]
        skip = labels | set(readers.INTERNAL)
        absent = {f.label for f in required}  # required labels no record has held yet
        is_open_sdg = src.type == "open_sdg_csv"
        review_label = review_field.label if review_field is not None else None
        nul_free = None  # a JSON file without a \u0000 escape holds no NUL anywhere (strict JSON)
        lookup = readers.lookup
        stream: Iterable[tuple[int, readers.Record]] = readers.records(path, src)
        checked: list | None = None  # the page's rows checked column by column, None where not clean
        if src.kind in PAGE_KINDS and not is_open_sdg:
            nul_free = _no_nul_escape(path)
            if nul_free:
                stream = list(stream)  # one page, parsed once (the reader holds it whole anyway)
                checked = _check_columns(plans, [r for _, r in stream], date_format, limits)
        for position, (number, record) in enumerate(stream):
            state.begin(record)
            if checked is not None and checked[position] is not None:
                # Every field already checked, and none failed: what the loop below would write.
                if absent:  # each required field holds a value in this record
                    present.update(absent)
                    absent.clear()
                if review_label is not None and _review_state(src, lookup(record, review_label)) == REJECTED:
                    state.current["rejected"] = True
                state.emit(checked[position], record, number, skip)
                continue
            if "__width__" in record:
                fail(number, None, str(record["__expected__"]), str(record["__width__"]))
                continue
            if nul_free is None:
                nul_free = src.kind in JSON_KINDS and _no_nul_escape(path)
            refused = _refused_record(record, labels, nul_free)
            if refused is not None:
                fail(number, *refused)
                continue
            if absent:  # `present` is only ever asked about required fields
                present.update(k for k in absent if record.get(k) not in (None, "", [], {}))
                absent.difference_update(present)
            row = _record_row(state, src, plans, record, number, absent, present, date_format, limits)
            if row is None:
                continue
            if review_label is not None and _review_state(src, lookup(record, review_label)) == REJECTED:
                state.current["rejected"] = True
            state.emit(row, record, number, skip)
        state.close_submission()
    except readers.UnreadableDelivery as exc:
        raise ContractViolation(
            exc.kind, [{"row": exc.row, "column": exc.column, "expected": exc.expected, "found": exc.found}]
        ) from None
    return state.result(src, required, present)


# --------------------------------------------------------------------------------------------
# Load one delivery
# --------------------------------------------------------------------------------------------


def quarantine_file(cfg: Settings, delivery: Delivery, reason: dict) -> Path:
    """Keep the original file and its reason side by side; nothing a partner sent is lost.

    Both are owner-only (0600 in 0700 folders). The copy is read without following links (a link
    is never copied: the reason says so instead). The reason is kept under
    ``cfg.reason_max_bytes`` (in place, so the ledger stores the same bounded reason)."""
    folder = cfg.quarantine_dir / delivery.source_id / delivery.delivery_date
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = landing.safe_name(delivery.file_name, 200).replace("/", "_")
    target = folder / (name if name.startswith(delivery.sha256[:12]) else f"{delivery.sha256[:12]}_{name}")
    if Path(delivery.path).resolve() != target.resolve():  # a retry reads the kept copy itself
        try:
            landing.copy_regular(delivery.path, target)
        except OSError as exc:
            reason["file_not_kept"] = landing.safe_name(exc.strerror or str(exc), 200)
    masking.bound_reason(reason, cfg.reason_max_bytes)
    kept = target.with_name(target.name + ".reason.json")
    fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(reason, indent=2, default=str))
    return target


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def quarantine_submissions(cfg: Settings, src: Source, delivery: Delivery, bad: list[dict]) -> list[dict]:
    """Keep each submission quarantined alone (the rest of its page loaded) as the platform sent
    it, beside a reason naming partner, source, file, the submission's id, field and what was
    expected (masked excerpts only, never a personal value). Both owner-only."""
    folder = cfg.quarantine_dir / delivery.source_id / delivery.delivery_date
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        page = readers.submissions(Path(delivery.path), src)
    except (readers.UnreadableDelivery, OSError):
        page = []
    stem = landing.safe_name(delivery.file_name, 120).replace("/", "_")
    key_label = src.format.get("key") or "submission"
    kept = []
    for b in bad:
        key = b["key"] if b["key"] not in (None, "") else f"index-{b['index']}"
        safe_key = re.sub(r"[^A-Za-z0-9_.:-]", "_", str(key))[:80]
        target = folder / f"{delivery.sha256[:12]}_{stem}.submission-{safe_key}.json"
        label = f"{key_label} {submission_id(b['key'])}"
        reason = delivery.reason(
            "submission_quarantined",
            submission=label,
            key_field=key_label,
            page_index=b["index"],
            errors_total=b["errors_total"],
            errors=[{k: v for k, v in e.items() if k != "submission"} for e in b["errors"]],
        )
        if 0 <= b["index"] < len(page):
            _write_private(target, json.dumps(page[b["index"]], ensure_ascii=False, indent=1))
        else:
            reason["file_not_kept"] = "the submission could not be read back from its page"
        masking.bound_reason(reason, cfg.reason_max_bytes)
        _write_private(
            target.with_name(target.name + ".reason.json"), json.dumps(reason, indent=2, default=str)
        )
        kept.append({"submission": label, "quarantine_path": str(target), "reason": reason})
    return kept


#: SQLSTATE classes of a file PostgreSQL refuses: 22 data exception (a NUL byte, a number out of
#: range), 23 integrity, 54 program limit exceeded (a line too long). Anything else (a lost
#: connection, a restart) is the warehouse's problem, not the partner's: it fails the task.
_REFUSED_BY_WAREHOUSE = ("22", "23", "54")


def _refused(exc: BaseException) -> bool:
    return isinstance(exc, (psycopg2.DataError, psycopg2.IntegrityError)) or (
        isinstance(exc, psycopg2.Error) and (exc.pgcode or "")[:2] in _REFUSED_BY_WAREHOUSE
    )


def _plausibility_checks(src: Source, limits: Limits) -> list[str]:
    """SQL conditions, one per field, true on a row whose value is implausible (outside the period
    window, not finite, too large): COPY accepts `9999-12-31`, `NaN` and `1e308`; the careful path
    names the row and column."""
    checks = []
    for f in src.fields:
        col = f'"{f.name}"'
        if f.type in ("date", "timestamp"):
            checks.append(f"extract(year from {col}) not between {limits.min_year} and {limits.max_year}")
        elif f.type in ("numeric", "integer"):
            checks.append(f"abs({col}) > {limits.max_abs!r}::float8")  # NaN and Infinity included
            if f.name in PERIOD_FIELDS:
                checks.append(f"{col} not between {limits.min_year} and {limits.max_year}")
        elif f.name in PERIOD_FIELDS:
            checks.append(
                f"substring({col} from '^\\s*([0-9]{{4}})(?![0-9])')::int "
                f"not between {limits.min_year} and {limits.max_year}"
            )
    return checks


def _fast_copy(cur, src: Source, delivery: Delivery) -> int | None:
    """COPY a CSV delivery whose header is exactly its contract straight into the raw table:
    PostgreSQL parses, converts the encoding and checks the types; Python only hands it the
    bytes after the header. Returns the rows copied, or ``None`` when the file needs the careful
    path (its header drifted). A file PostgreSQL rejects, or whose values are implausible (see
    :func:`_plausibility_checks`), raises ``psycopg2.DataError``."""
    cur.execute("savepoint fast_copy")
    try:
        header, offset = readers.csv_header(Path(delivery.path), src)
    except OSError as exc:  # the careful path says why, in a reason
        raise readers.UnreadableDelivery(
            "unreadable_file", None, "a regular file", exc.strerror or str(exc)
        ) from None
    by_label = {f.label: f for f in src.fields}
    if src.type == "open_sdg_csv":
        return None  # its disaggregation columns and periods are read row by row (_open_sdg_row)
    if len(set(header)) != len(header) or any(h not in by_label for h in header):
        return None  # unexpected or duplicate columns: the careful path keeps or refuses them
    if any(f.required and f.label not in header for f in src.fields):
        return None  # the careful path names the missing column
    if any(
        f.type == "date" and src.format.get("date_format") not in (None, *DATE_ORDERS) for f in src.fields
    ):
        return None
    encoding = codecs.lookup(src.format.get("encoding", "utf-8")).name
    pg_encoding = {
        "utf-8": "UTF8",
        "utf-8-sig": "UTF8",
        "latin-1": "LATIN1",
        "iso8859-1": "LATIN1",
        "cp1252": "WIN1252",
        "iso8859-15": "LATIN9",
    }.get(encoding)
    if pg_encoding is None:
        return None
    columns = ", ".join(f'"{by_label[h].name}"' for h in header)
    delimiter = src.format.get("delimiter", ",").replace("'", "''")
    try:
        with landing.open_regular(delivery.path) as fh:
            fh.seek(offset)
            cur.copy_expert(
                f'copy {RAW_SCHEMA}."{src.raw_table}" ({columns}) from stdin '
                f"with (format csv, delimiter '{delimiter}', encoding '{pg_encoding}')",
                fh,
                size=1 << 20,
            )
    except OSError as exc:
        raise readers.UnreadableDelivery(
            "unreadable_file", None, "a regular file", exc.strerror or str(exc)
        ) from None
    except psycopg2.Error as exc:
        if _refused(exc) and not isinstance(exc, psycopg2.DataError):
            raise psycopg2.DataError(f"refused by the warehouse ({exc.pgcode})") from None
        raise
    rows = cur.rowcount
    # Required means present and non-empty, and values must be plausible; COPY cannot say that,
    # one scan of tonight's rows can.
    checks = [
        f'"{f.name}" is null' + (f" or trim(\"{f.name}\") = ''" if f.type == "text" else "")
        for f in src.fields
        if f.required
    ]
    checks += _plausibility_checks(src, Limits.of(settings(), delivery.delivery_date))
    if checks:
        cur.execute(
            f'select count(*) from {RAW_SCHEMA}."{src.raw_table}" '
            f"where _delivery_id = current_setting('lnob.delivery_id')::bigint and ({' or '.join(checks)})"
        )
        if cur.fetchone()[0]:
            raise psycopg2.DataError("a required field is empty or a value is implausible")
    cur.execute("release savepoint fast_copy")
    return rows


def _careful_copy(cur, src: Source, delivery: Delivery) -> Spooled:
    """Validate and load a delivery row by row. Whatever goes wrong with the file itself (a
    reader's crash, PostgreSQL refusing a value, a file that cannot be opened) becomes a
    :class:`ContractViolation`: that delivery is quarantined with a reason and the night goes on.
    A lost connection or a full disk is not the file's fault and is raised as it is."""
    limits = Limits.of(settings(), delivery.delivery_date)
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
            spooled = _spool(src, Path(delivery.path), spool, limits)
            spool.seek(0)
            names = ", ".join(f'"{f.name}"' for f in src.fields)
            cur.copy_expert(
                f'copy {RAW_SCHEMA}."{src.raw_table}" ({names}, "_overflow", "_row_number") '
                "from stdin with (format csv)",
                spool,
                size=1 << 20,
            )
    except ContractViolation:
        raise
    except psycopg2.Error as exc:
        if not _refused(exc):
            raise
        raise ContractViolation(
            "refused_by_warehouse",
            [
                {
                    "row": None,
                    "column": None,
                    "expected": "values the raw table accepts",
                    "found": f"{type(exc).__name__} (SQLSTATE {exc.pgcode})",
                }
            ],
        ) from None
    except landing.UnsafeFile as exc:
        raise ContractViolation(
            "unsafe_file",
            [
                {
                    "row": None,
                    "column": None,
                    "expected": "a regular file, no link",
                    "found": landing.safe_name(exc.strerror or str(exc)),
                }
            ],
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.ENOMEM):
            raise  # the loader's machine, not the file
        raise ContractViolation(
            "unreadable_file",
            [
                {
                    "row": None,
                    "column": None,
                    "expected": "a readable file",
                    "found": landing.safe_name(exc.strerror or type(exc).__name__),
                }
            ],
        ) from None
    except Exception as exc:  # noqa: BLE001 - a hostile file must not crash the night
        raise ContractViolation(
            "unreadable_file",
            [
                {
                    "row": None,
                    "column": None,
                    "expected": f"a file readable as {src.kind}",
                    "found": f"the reader failed: {type(exc).__name__}",
                }
            ],
        ) from None
    return spooled


def _supersede_edited(cur, src: Source, delivery_id: int, keys: set[str] | None = None) -> int:
    """A platform record edited after it was loaded (KoboToolbox `_id`, ODK Central `__id`, with
    `meta/deprecatedID`) arrives again with the same key: its earlier versions are marked
    ``_superseded_by`` this delivery, in the same transaction. Raw keeps every version.

    ``keys``: the keys this delivery wrote, when the loader knows them (the careful path): the
    earlier versions are then found through the key index instead of a scan of this delivery's
    rows."""
    key_field = _key_field(src)
    if key_field is None:
        return 0
    key = key_field.name
    table = f'{RAW_SCHEMA}."{src.raw_table}"'
    if keys is not None:
        if not keys:
            return 0
        sql_type = _PG_TYPE.get(key_field.sql_type, key_field.sql_type)
        cur.execute(
            f"""update {table} as old set _superseded_by = %(id)s
                        where old._delivery_id <> %(id)s and old._superseded_by is null
                          and old."{key}" = any(%(keys)s::{sql_type}[])""",
            {"id": delivery_id, "keys": sorted(keys)},
        )
        return cur.rowcount
    cur.execute(
        f"""update {table} as old set _superseded_by = %(id)s
                    where old._delivery_id <> %(id)s and old._superseded_by is null
                      and old."{key}" in (select "{key}" from {table} where _delivery_id = %(id)s)""",
        {"id": delivery_id},
    )
    return cur.rowcount


def actor() -> str:
    """Who is changing a delivery: ``LNOB_ACTOR`` (set it to a name in shared accounts), else the
    operating-system user."""
    import getpass
    import os

    try:
        return os.environ.get("LNOB_ACTOR") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


def load_delivery(
    conn,
    registry: Registry,
    delivery: Delivery,
    run_id: str | None = None,
    cfg: Settings | None = None,
    retry_of: int | None = None,
    *,
    action: str | None = None,
    by: str | None = None,
    why: str | None = None,
) -> LoadResult:
    """Load one delivery in one transaction; quarantine it when it breaks its contract.

    ``retry_of`` is the ledger id of a quarantined or unloaded delivery being loaded again (``lnob
    quarantine retry``, ``lnob delivery reload``): it keeps its id, and its ledger row says what
    happened this time. ``action``, ``by`` and ``why`` go to ``delivery_events`` (default: a
    ``load`` by the pipeline).

    What replaces what: a delivery whose content (sha256) is already in the ledger is a duplicate.
    A file drop with the same source, date and file name as a loaded one is a corrected
    re-delivery: the earlier one is ``superseded`` (its rows leave raw, ``replaced_by`` names this
    one). A page fetched from an API never replaces anything by name; its submissions supersede
    their own earlier versions by key (``_supersede_edited``), and raw keeps every version.
    """
    try:
        return _load_delivery(conn, registry, delivery, run_id, cfg, retry_of, action, by, why)
    except BaseException:
        # A failure this function does not turn into a quarantine (a refused raw migration, the
        # warehouse going away) must not leave the transaction, and its locks, open.
        if not conn.closed:
            conn.rollback()
        raise


def _load_delivery(
    conn,
    registry: Registry,
    delivery: Delivery,
    run_id: str | None,
    cfg: Settings | None,
    retry_of: int | None,
    action: str | None,
    by: str | None,
    why: str | None,
) -> LoadResult:
    cfg = cfg or settings()
    src = registry.source(delivery.source_id)
    action = action or ("retry" if retry_of is not None else "load")
    by = by or "pipeline"
    result = LoadResult(
        delivery.source_id, delivery.partner_id, delivery.file_name, delivery.delivery_date, outcome="loaded"
    )
    with conn.cursor() as cur:
        meta.ensure(cur)
        # One loader per source at a time; different sources load in parallel.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"load:{src.id}",))
        if ledger.holds(cur, src.id, delivery.sha256, other_than=retry_of):
            conn.rollback()
            result.outcome = "duplicate"
            return result
        if retry_of is not None:
            delivery_id = retry_of
            ledger.forget(cur, retry_of)
        else:
            delivery_id = ledger.next_id(cur)
        result.delivery_id = delivery_id
        migrated = ensure_raw_table(cur, src)
        _set_lineage(cur, src, delivery, delivery_id)
        # File line numbers: the first data line of a CSV is line 2.
        cur.execute("select setval(%s, 1, true)", (_row_sequence(src).replace('"', ""),))
        try:
            rows, unexpected, spooled = _copy(cur, src, delivery)
        except ContractViolation as exc:
            conn.rollback()
            return _quarantine_delivery(
                conn, cfg, src, delivery, exc, result, migrated, retry_of, run_id, action, by, why
            )
        _supersede_edited(cur, src, delivery_id, spooled.keys if spooled is not None else None)
        partial = _partial_reason(cfg, src, delivery, spooled, result)
        superseded: list[int] = []
        if src.type not in API_TYPES:
            # A corrected re-delivery of a file drop (same source, date and name) replaces the
            # earlier one. Fetched pages are never replaced by name: a second fetch of the same
            # night holds other submissions, not a correction of the first.
            superseded = _replace_by_name(cur, src, delivery, delivery_id, by, run_id)
        ledger.record(
            cur,
            delivery_id,
            src.id,
            delivery,
            "loaded",
            delivery.path,
            rows=rows,
            unexpected=unexpected or None,
            reason=partial,
            run_id=run_id,
            by=by,
            why=why,
        )
        meta.log_delivery_event(
            cur,
            delivery_id,
            src.id,
            action,
            "loaded",
            by,
            why,
            rows,
            detail={
                "file": delivery.file_name,
                "replaces": superseded or None,
                "raw_migrated": migrated or None,
                "submissions": result.submissions,
            },
            run_id=run_id,
        )
    conn.commit()
    result.rows_loaded = rows
    result.superseded = superseded or None
    result.unexpected_fields = unexpected or None
    return result


def _copy(cur, src: Source, delivery: Delivery) -> tuple[int, list[str], Spooled | None]:
    """COPY a delivery into raw: a CSV straight (:func:`_fast_copy`), anything else or a CSV that
    PostgreSQL refused record by record (:func:`_careful_copy`, raising
    :class:`ContractViolation`). The rows, the unexpected fields, and what the careful path made
    of it (``None`` after a straight COPY)."""
    rows = None
    try:
        if src.kind == "csv":
            rows = _fast_copy(cur, src, delivery)
    except (psycopg2.DataError, psycopg2.IntegrityError, readers.UnreadableDelivery):
        cur.execute("rollback to savepoint fast_copy")
        rows = None  # PostgreSQL refused it: the careful path names the row and column
    if rows is not None:
        return rows, [], None
    spooled = _careful_copy(cur, src, delivery)
    return spooled.rows, spooled.unexpected, spooled


def _quarantine_delivery(
    conn,
    cfg: Settings,
    src: Source,
    delivery: Delivery,
    exc: ContractViolation,
    result: LoadResult,
    migrated: list[str],
    retry_of: int | None,
    run_id: str | None,
    action: str,
    by: str,
    why: str | None,
) -> LoadResult:
    """A delivery that broke its contract (its transaction rolled back): its file to the
    quarantine folder with the reason, ``quarantined`` in the ledger, committed."""
    delivery_id = result.delivery_id
    assert delivery_id is not None, "a delivery is in the ledger before it can be quarantined"
    reason = delivery.reason(exc.kind, errors_total=exc.total, errors=exc.errors)
    target = quarantine_file(cfg, delivery, reason)
    with conn.cursor() as qcur:
        if retry_of is not None:  # the rollback brought the old row back: replace it
            ledger.forget(qcur, retry_of)
        if migrated:  # the rollback undid the raw table's migration: keep it
            ensure_raw_table(qcur, src)
        ledger.record(
            qcur,
            delivery_id,
            src.id,
            delivery,
            "quarantined",
            str(target),
            reason=reason,
            run_id=run_id,
            by=by,
            why=why or exc.kind,
        )
        meta.log_delivery_event(
            qcur,
            delivery_id,
            src.id,
            action,
            "quarantined",
            by,
            why or exc.kind,
            detail={"kind": exc.kind, "errors_total": exc.total, "file": delivery.file_name},
            run_id=run_id,
        )
    conn.commit()
    result.outcome = "quarantined"
    result.reason = reason
    result.quarantine_path = str(target)
    return result


def _partial_reason(
    cfg: Settings, src: Source, delivery: Delivery, spooled: Spooled | None, result: LoadResult
) -> dict | None:
    """A survey platform's page: its submission counts to ``result``, its broken submissions to
    the quarantine folder; the ledger's reason when any was left out."""
    if spooled is None or spooled.submissions is None:
        return None
    result.submissions = spooled.submissions
    if not spooled.bad_submissions:
        return None
    result.quarantined_submissions = quarantine_submissions(cfg, src, delivery, spooled.bad_submissions)
    return {
        "kind": "submissions_quarantined",
        "partner": delivery.partner_id,
        "source": src.id,
        "file": delivery.file_name,
        "submissions": spooled.submissions,
        "quarantined": [
            {k: q[k] for k in ("submission", "quarantine_path")}
            for q in result.quarantined_submissions[:MAX_LISTED_ERRORS]
        ],
    }


def _replace_by_name(
    cur, src: Source, delivery: Delivery, delivery_id: int, by: str, run_id: str | None
) -> list[int]:
    """The loaded deliveries this corrected re-delivery replaces: ``superseded`` in the ledger,
    their rows out of raw; their ids."""
    superseded = ledger.supersede_by_name(cur, delivery_id, src.id, delivery, by)
    if superseded:
        cur.execute(f'delete from {RAW_SCHEMA}."{src.raw_table}" where _delivery_id = any(%s)', (superseded,))
        for old_id in superseded:
            meta.log_delivery_event(
                cur,
                old_id,
                src.id,
                "replace",
                "superseded",
                by,
                f"replaced by corrected re-delivery {delivery_id}",
                detail={"replaced_by": delivery_id, "file": delivery.file_name},
                run_id=run_id,
            )
    return superseded


def _restore_superseded(cur, src: Source, delivery_id: int) -> None:
    """Rows this delivery marked ``_superseded_by`` (edited submissions) become current again,
    unless a later delivery still present holds a newer version of the same key."""
    key_label = src.format.get("key")
    key = next((f.name for f in src.fields if f.label == key_label), None) if key_label else None
    table = f'{RAW_SCHEMA}."{src.raw_table}"'
    if key is None:
        cur.execute(f"update {table} set _superseded_by = null where _superseded_by = %s", (delivery_id,))
        return
    cur.execute(
        f"""update {table} as old set _superseded_by = (
                        select min(n._delivery_id) from {table} as n
                        where n."{key}" = old."{key}" and n._delivery_id > old._delivery_id
                          and n._delivery_id <> %(id)s)
                    where old._superseded_by = %(id)s""",
        {"id": delivery_id},
    )


def unload_delivery(
    conn,
    registry: Registry,
    delivery_id: int,
    reason: dict,
    cfg: Settings | None = None,
    *,
    status: str = "quarantined",
    by: str | None = None,
    why: str | None = None,
    run_id: str | None = None,
) -> str:
    """Take a loaded delivery's rows back out of raw, in one transaction.

    ``status='quarantined'`` (a raw gate failed on it): the file is kept in the quarantine folder
    with ``reason``; returns that path. ``status='unloaded'`` (``lnob delivery unload``): the file
    stays where the ledger says; returns its path. Either way the ledger says who, when and why,
    and ``delivery_events`` keeps the history; staging drops the delivery's rows on the next
    transform (``prune_deliveries``). Versions of edited submissions this delivery superseded are
    current again.
    """
    if status not in ("quarantined", "unloaded"):
        raise ValueError(f"unload to status {status!r}: expected 'quarantined' or 'unloaded'")
    cfg = cfg or settings()
    by = by or "pipeline"
    with conn.cursor() as cur:
        meta.ensure(cur)
        found = ledger.source_of(cur, delivery_id)
        if found is None:
            conn.rollback()
            raise KeyError(f"no delivery {delivery_id} in the ledger (see lnob_meta.delivery_ledger)")
        # The source's load lock first, as the loader takes it: an unload and a load of the same
        # source never wait on each other's ledger rows.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"load:{found}",))
        source_id, partner_id, ddate, path, sha, current, rows_before = ledger.lock(cur, delivery_id)
        if current != "loaded":
            conn.rollback()
            raise ValueError(
                f"delivery {delivery_id} ({source_id}) is {current}, not loaded: nothing to unload"
            )
        src = registry.source(source_id)
        cur.execute(f'delete from {RAW_SCHEMA}."{src.raw_table}" where _delivery_id = %s', (delivery_id,))
        removed = cur.rowcount
        _restore_superseded(cur, src, delivery_id)
        target = path
        if status == "quarantined":
            delivery = Delivery(source_id, partner_id, ddate.isoformat(), path, sha)
            target = str(quarantine_file(cfg, delivery, reason))
        why = why or reason.get("why") or reason.get("kind")
        ledger.mark(cur, delivery_id, status, reason, target, by, why)
        meta.log_delivery_event(
            cur,
            delivery_id,
            source_id,
            "unload",
            status,
            by,
            why,
            detail={"rows_removed": removed, "rows_loaded_before": rows_before, "kind": reason.get("kind")},
            run_id=run_id,
        )
    conn.commit()
    return target


def reload_delivery(
    conn,
    registry: Registry,
    delivery_id: int,
    why: str,
    by: str | None = None,
    run_id: str | None = None,
    cfg: Settings | None = None,
) -> LoadResult:
    """Load an unloaded delivery again, from the file its ledger row names, under its own id:
    the same file gives back the same rows (same lineage and row numbers). The file must still
    be byte-identical to what was loaded; a changed or missing file is refused, naming it."""
    delivery, status = _recorded_delivery(conn, delivery_id, f"no delivery {delivery_id} in the ledger")
    source_id, path, sha = delivery.source_id, delivery.path, delivery.sha256
    if status != "unloaded":
        hint = " (use `lnob quarantine retry`)" if status == "quarantined" else ""
        raise ValueError(f"delivery {delivery_id} ({source_id}) is {status}, not unloaded{hint}")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(
            f"delivery {delivery_id} ({source_id}): its file {path} is gone; "
            "put the same file back there to reload it"
        )
    if file_sha256(file) != sha:
        raise ValueError(
            f"delivery {delivery_id} ({source_id}): {path} changed since it was loaded "
            f"(sha256 {sha[:12]}... expected): a changed file is a new delivery, not a reload"
        )
    return load_delivery(
        conn,
        registry,
        delivery,
        run_id,
        cfg,
        retry_of=delivery_id,
        action="reload",
        by=by or actor(),
        why=why,
    )


def quarantined(conn) -> list[dict]:
    """Every quarantined delivery with its reason, newest first."""
    with conn.cursor() as cur:
        meta.ensure(cur)
        return ledger.quarantined(cur)


def _recorded_delivery(conn, delivery_id: int, missing: str) -> tuple[Delivery, str]:
    """A delivery as the ledger records it, and its status (``KeyError(missing)`` without it)."""
    with conn.cursor() as cur:
        meta.ensure(cur)
        row = ledger.delivery(cur, delivery_id)
    conn.rollback()
    if row is None:
        raise KeyError(missing)
    source_id, partner_id, ddate, path, sha, status = row
    return Delivery(source_id, partner_id, ddate.isoformat(), path, sha), status


def retry_quarantined(
    conn, registry: Registry, delivery_id: int, run_id: str | None = None, cfg: Settings | None = None
) -> LoadResult:
    """Load a quarantined delivery again from its kept copy (after the registry or the file was
    fixed); it loads, or stays quarantined with tonight's reason."""
    delivery, status = _recorded_delivery(
        conn, delivery_id, f"no delivery {delivery_id} in the ledger (see `lnob quarantine list`)"
    )
    if status != "quarantined":
        raise ValueError(f"delivery {delivery_id} is {status}, not quarantined")
    return load_delivery(conn, registry, delivery, run_id, cfg, retry_of=delivery_id, by=actor())
