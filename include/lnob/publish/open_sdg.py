"""Open SDG CSV files of the community-driven data, one per country and indicator, and a checker
of Open SDG's data format.

Open SDG (the national SDG reporting platform of Canada, the UK and many others, built by
``sdg-build``) reads one CSV per indicator, ``indicator_<goal>-<target>-<indicator>.csv``:
``Year`` first, ``Value`` last, the disaggregation columns between them with labels, not codes,
and a blank disaggregation cell meaning the total; the rows whose disaggregations are all blank
are the headline. ``Series`` and ``Units`` are special columns (not disaggregations), as are
``GeoCode`` (the area code a map joins on) and ``Observation status`` (an observation
attribute).

A platform is national and its headline is the national total, so the files are written per
country (``open_sdg/<ISO3>/indicator_3-8-2.csv``), with the first-level areas as the ``Region``
disaggregation. They carry the community-driven data only: the official comparators are the
platform's own data already, and an official and a community value of the same cell would
otherwise be two rows for one disaggregation. Suppressed cells keep their row with a blank
``Value`` and ``Observation status`` "Missing value; suppressed". A series whose whole universe
is an age group (children under 5 for birth registration, adults for discrimination) has no
``_T`` age: that age is its total and is left blank.

Text cells that a spreadsheet would read as a formula (a label starting with ``=``, ``+``, ``-``,
``@``) are written with a leading ``'`` (:mod:`lnob.ingest.csv_safe`); ``Year`` and ``Value`` are numbers
and written as they are, so a negative value stays a number.

Two things a reader of these files should know (the README's export section says the same):

- **Repeated indicators.** The SDG framework repeats some indicators under two targets with the
  same definition: 10.3.1 and 16.b.1 ("felt discriminated against or harassed") are one
  indicator, and the IAEG-SDGs series list files the one series VC_VOV_GDSD under both. Open SDG
  platforms publish a repeated indicator on both pages, so both files are written and, holding
  the same series, they are identical; each one's indicator configuration says so.
- **The partnership's own series are proxies, not the official indicator.** A series of
  ``lnob/lnob_series.csv`` (``_L_LNOB_HLTH_ACS``: needed health care and received it) speaks to
  an indicator (3.8.1) that community surveys cannot compute (the official 3.8.1 is the UHC
  service coverage index SH_ACS_UNHC). It is filed, as Open SDG files a national indicator
  beside a global one, under a four-part id of its own, ``3.8.1.lnob``
  (``indicator_3-8-1-lnob.csv``), with an indicator configuration
  (``indicator-config/3-8-1-lnob.yml``) naming it, tagging it "LNOB community proxy" and showing
  a notice that it is not the official indicator.

Every file has its Open SDG indicator configuration beside it
(``open_sdg/<ISO3>/indicator-config/<id>.yml``: number, reporting status, graph type, the
country as geographical coverage, the partnership as source).

Labels come from the published marts (series names, units, area names) and the committed dbt
seeds (SDMX code names, the LNOB group labels): the export runs as the BI reader, which reads
``marts`` only.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from lnob.ingest import csv_safe
from lnob.platform.config import PUBLISHED_SCHEMA
from lnob.platform.errors import NotRetryable

YEAR, VALUE = "Year", "Value"
SERIES, UNITS = "Series", "Units"
GEOCODE, OBS_STATUS = "GeoCode", "Observation status"
#: disaggregation columns, in file order: (column, mart column, SDMX codelist for the labels)
DISAGGREGATIONS = [
    ("Region", "ref_area", None),
    ("Sex", "sex", "CL_SEX"),
    ("Age", "age", "CL_AGE"),
    ("Location", "urbanisation", "CL_URBANISATION"),
    ("Disability status", "disability_status", "CL_DISABILITY"),
    ("Migratory status", "composite_breakdown", "CL_COMP_BREAKDOWN"),
    ("Population group", "cust_breakdown", None),
]
#: special (non-disaggregation) columns: before the disaggregations, and after them
LEADING = [SERIES, UNITS]
TRAILING = [GEOCODE, OBS_STATUS]
SPECIAL = {YEAR, VALUE, *LEADING, *TRAILING}
TOTAL = "_T"


#: the fourth part of the Open SDG id of a partnership proxy (``3.8.1.lnob``; a second proxy
#: of the same indicator ``3.8.1.lnob2``): a national platform's own ``3.8.1.a`` cannot collide
PROXY_PART = "lnob"
PROXY_TAG = "LNOB community proxy"
SOURCE = "Leave No One Behind partnership (community-driven data)"


class OpenSdgError(NotRetryable, ValueError):
    """An Open SDG file breaks the format: names the file, the row and the column."""


@dataclass(frozen=True)
class Proxy:
    """A partnership series filed as a proxy of a global indicator under its own Open SDG id."""

    series: str
    proxy_for: str  # the global indicator, "3.8.1"
    indicator_number: str  # its Open SDG id, "3.8.1.lnob"
    title: str  # the series name
    description: str  # what it measures, and that it is not the official indicator


def _read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def labels(seeds_dir: Path) -> dict[str, dict[str, str]]:
    """Code labels per codelist, from the committed seeds (``dbt_project/seeds``)."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for r in _read_csv(seeds_dir / "reference" / "sdmx_codes.csv"):
        out[r["codelist_id"]][r["code"]] = r["name"]
    for r in _read_csv(seeds_dir / "lnob" / "lnob_custom_breakdowns.csv"):
        out["LNOB_GROUPS"][r["cust_breakdown"]] = r["label"]
    return out


def proxy_indicators(seeds_dir: Path) -> dict[str, list[Proxy]]:
    """The partnership's own series (``lnob/lnob_series.csv`` of ``dbt_project/seeds``), each
    with the proxy indicator it is filed under per global indicator it speaks to. Ids are given
    per indicator in series-code order, so they stay the same from night to night."""
    by_indicator: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(_read_csv(seeds_dir / "lnob" / "lnob_series.csv"), key=lambda r: r["series_code"]):
        for indicator in (i.strip() for i in r["indicators"].split(",")):
            if indicator:
                by_indicator[indicator].append(r)
    out: dict[str, list[Proxy]] = defaultdict(list)
    for indicator, rows in sorted(by_indicator.items()):
        for n, r in enumerate(rows, start=1):
            part = PROXY_PART if n == 1 else f"{PROXY_PART}{n}"
            method = r.get("method") or ""
            out[r["series_code"]].append(
                Proxy(
                    series=r["series_code"],
                    proxy_for=indicator,
                    indicator_number=f"{indicator}.{part}",
                    title=r["series_name"],
                    description=(
                        f"LNOB community proxy for SDG indicator {indicator}, not the official "
                        f"indicator: {method}"
                        if method
                        else f"LNOB community proxy for SDG indicator {indicator}, not the official indicator"
                    ),
                )
            )
    return dict(out)


def _label(codelist: str, code: str, names: dict[str, dict[str, str]]) -> str:
    name = names.get(codelist, {}).get(code, code)
    if codelist == "CL_COMP_BREAKDOWN" and ": " in name:
        name = name.split(": ", 1)[1]  # "Migrant Status: Migrant" -> "Migrant"
    return name[:1].upper() + name[1:]


def fetch(conn) -> list[dict]:
    """Published community observations with what the files need from the marts: indicator
    (one row per indicator a series serves), series name, unit name, country and area name."""
    with conn.cursor() as cur:
        cur.execute(f"""
            select i.indicator_code, o.series, i.series_name, i.unit_name, g.country_iso3,
                   g.ref_area_level, o.ref_area, g.area_name, o.time_period, o.sex, o.age,
                   o.urbanisation, o.disability_status, o.composite_breakdown, o.cust_breakdown,
                   o.obs_value, o.obs_status
            from {PUBLISHED_SCHEMA}.fct_sdg_observation as o
            join {PUBLISHED_SCHEMA}.dim_indicator as i on i.series_code = o.series
            join {PUBLISHED_SCHEMA}.dim_geography as g on g.ref_area = o.ref_area
            where o.source_type = 'community'
            order by 1, 5, 2, 9""")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, rec, strict=True)) for rec in cur.fetchall()]


def _universe_ages(rows: list[dict]) -> dict[str, str]:
    """Per series, the age of its whole universe: ``_T`` if the series has it, else its most
    frequent age (every group, sex, area cell of a series is cut at the universe age)."""
    ages: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        ages[r["series"]][r["age"]] += 1
    return {s: TOTAL if TOTAL in c else c.most_common(1)[0][0] for s, c in ages.items()}


def _format_value(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return repr(float(v))


def build(
    rows: list[dict], names: dict[str, dict[str, str]], proxies: dict[str, list[Proxy]] | None = None
) -> dict[tuple[str, str], list[dict]]:
    """``{(ISO3, indicator): rows}`` in Open SDG columns (a blank cell: the total). A proxy series
    goes to its own proxy indicator (``3.8.1.lnob``), never to the indicator it is a proxy for."""
    universe = _universe_ages(rows)
    filed = {(p.series, p.proxy_for): p.indicator_number for ps in (proxies or {}).values() for p in ps}
    files: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        out = {YEAR: r["time_period"], SERIES: r["series_name"], UNITS: r["unit_name"] or ""}
        for column, field, codelist in DISAGGREGATIONS:
            code = r[field]
            if field == "ref_area":
                out[column] = r["area_name"] if r["ref_area_level"] != "country" else ""
            elif code == TOTAL or (field == "age" and code == universe[r["series"]]):
                out[column] = ""
            elif field == "cust_breakdown":
                out[column] = names["LNOB_GROUPS"].get(code, code)
            else:
                out[column] = _label(codelist or "", code, names)  # only Region has none, above
        out[GEOCODE] = r["ref_area"] if r["ref_area_level"] != "country" else ""
        out[OBS_STATUS] = _label("CL_OBS_STATUS", r["obs_status"], names)
        out[VALUE] = _format_value(r["obs_value"])
        indicator = filed.get((r["series"], r["indicator_code"]), r["indicator_code"])
        files[(r["country_iso3"], indicator)].append(out)
    return files


def columns_of(rows: list[dict]) -> list[str]:
    """Year, Series, Units, the disaggregations used in the file, GeoCode, Observation status,
    Value: a disaggregation nobody breaks out in this file is left out."""
    used = [c for c, _, _ in DISAGGREGATIONS if any(r[c] for r in rows)]
    trailing = [c for c in TRAILING if any(r[c] for r in rows)]
    return [YEAR, *LEADING, *used, *trailing, VALUE]


def file_name(indicator: str) -> str:
    return f"indicator_{indicator.replace('.', '-')}.csv"


def write(rows: list[dict], path: Path) -> int:
    cols = columns_of(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: tuple(r.get(c, "") for c in cols)):
            w.writerow({c: v if c in (YEAR, VALUE) else csv_safe.cell(v) for c, v in r.items()})
    return len(rows)


_NUMBER = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def check(path: Path) -> int:
    """Check ``path`` against Open SDG's data format rules (those ``sdg-build``'s check_csv
    applies, and what its headline and disaggregation logic rely on); raise OpenSdgError with
    the file, the row and the column of the first violation. Returns the number of rows."""
    if not re.fullmatch(r"indicator_\d+-[0-9a-z]+-[0-9a-z]+(-[0-9a-z]+)?\.csv", path.name):
        raise OpenSdgError(
            f"{path}: the file name must be indicator_<goal>-<target>-<indicator>.csv "
            "(or a four-part national id, indicator_<goal>-<target>-<indicator>-<part>.csv)"
        )
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        records = list(reader)
    if not header:
        raise OpenSdgError(f"{path}: empty file, expected a header starting with {YEAR!r}")
    for name in header:
        if name != name.strip() or not name:
            raise OpenSdgError(f"{path}: header: column name {name!r} is blank or has surrounding whitespace")
    if len(set(header)) != len(header):
        raise OpenSdgError(f"{path}: header: duplicate column names in {header}")
    if header[0] != YEAR:
        raise OpenSdgError(f"{path}: header: the first column must be {YEAR!r}, found {header[0]!r}")
    if header[-1] != VALUE:
        raise OpenSdgError(f"{path}: header: the last column must be {VALUE!r}, found {header[-1]!r}")
    disaggregations = [c for c in header if c not in SPECIAL]
    positions = [header.index(c) for c in disaggregations]
    trailing = [header.index(c) for c in TRAILING if c in header]
    leading = [header.index(c) for c in LEADING if c in header]
    if positions and (
        any(p < max(leading, default=0) for p in positions)
        or any(p > min(trailing, default=len(header)) for p in positions)
    ):
        raise OpenSdgError(
            f"{path}: header: the disaggregation columns must come after "
            f"{YEAR}/{SERIES}/{UNITS} and before {GEOCODE}/{OBS_STATUS}/{VALUE}: {header}"
        )
    if not records:
        raise OpenSdgError(f"{path}: no data rows")
    seen: dict[tuple, int] = {}
    headline = False
    for line, rec in enumerate(records, start=2):
        if len(rec) != len(header):
            raise OpenSdgError(f"{path}: row {line}: {len(rec)} fields, the header has {len(header)}")
        row = dict(zip(header, rec, strict=True))
        if not any(v.strip() for v in rec):
            raise OpenSdgError(f"{path}: row {line}: empty row")
        for col, v in row.items():
            if v != v.strip():
                raise OpenSdgError(f"{path}: row {line}, column {col!r}: surrounding whitespace in {v!r}")
        if not re.fullmatch(r"\d{4}", row[YEAR]):
            raise OpenSdgError(
                f"{path}: row {line}, column {YEAR!r}: expected a year (integer), found {row[YEAR]!r}"
            )
        v = row[VALUE]
        if v and not (_NUMBER.fullmatch(v) and math.isfinite(float(v))):
            raise OpenSdgError(
                f"{path}: row {line}, column {VALUE!r}: expected a number or blank, found {v!r}"
            )
        key = (row[YEAR], *(row.get(c, "") for c in LEADING), *(row[c] for c in disaggregations))
        if key in seen:
            raise OpenSdgError(
                f"{path}: row {line}: duplicate of row {seen[key]} for the same year, "
                f"series, units and disaggregations {dict(zip(disaggregations, key[3:], strict=False))}"
            )
        seen[key] = line
        headline = headline or not any(row[c] for c in disaggregations)
    if not headline:
        raise OpenSdgError(f"{path}: no headline row (every disaggregation blank)")
    return len(records)


def indicator_config(indicator: str, country: str, proxy: Proxy | None, repeated_in: list[str]) -> dict:
    """The Open SDG indicator configuration of one file (the fields of Open SDG's
    indicator-config: number, reporting status, statistical, graph type, geographical coverage,
    source). A proxy gets its name, the "LNOB community proxy" tag and a notice that it is not the
    official indicator; a repeated indicator a footnote naming the indicators with the same data."""
    config: dict = {
        "indicator_number": indicator,
        "reporting_status": "complete",
        "data_non_statistical": False,
        "graph_type": "line",
        "national_geographical_coverage": country,
        "source_active_1": True,
        "source_organisation_1": SOURCE,
    }
    if proxy is not None:
        config.update(
            {
                "indicator_name": proxy.title,
                "indicator_available": proxy.title,
                "graph_title": proxy.title,
                "tags": [PROXY_TAG],
                "data_notice_class": "warning",
                "data_notice_heading": f"{PROXY_TAG}, not the official indicator {proxy.proxy_for}",
                "data_notice_text": proxy.description,
            }
        )
    if repeated_in:
        others = ", ".join(repeated_in)
        config["data_footnote"] = (
            f"Repeated indicator: the SDG framework gives {indicator} and {others} one definition, and the "
            f"same SDG series serve them; this data is also published as {others}."
        )
    return config


def export(conn, out_dir: Path, seeds_dir: Path) -> dict[str, dict]:
    """Write and check every Open SDG file under ``out_dir`` (``<ISO3>/indicator_*.csv``), each
    with its indicator configuration (``<ISO3>/indicator-config/<id>.yml``)."""
    import yaml

    names = labels(seeds_dir)
    proxies = proxy_indicators(seeds_dir)
    by_number = {p.indicator_number: p for ps in proxies.values() for p in ps}
    rows = fetch(conn)
    countries = {r["country_iso3"]: r["area_name"] for r in rows if r["ref_area_level"] == "country"}
    files = build(rows, names, proxies)
    series_of = {k: {r[SERIES] for r in v} for k, v in files.items()}
    written: dict[str, dict] = {}
    for (iso3, indicator), file_rows in sorted(files.items()):
        path = out_dir / iso3 / file_name(indicator)
        n = write(file_rows, path)
        if check(path) != n:
            raise OpenSdgError(f"{path}: reads back a different number of rows than the {n} written")
        written[f"{out_dir.name}/{iso3}/{path.name}"] = {
            "path": str(path),
            "rows": n,
            "format": "Open SDG CSV",
            "checked": "Open SDG format rules",
        }
        repeated_in = sorted(
            other
            for (c, other), s in series_of.items()
            if c == iso3 and other != indicator and s == series_of[(iso3, indicator)]
        )
        config = indicator_config(indicator, countries.get(iso3, iso3), by_number.get(indicator), repeated_in)
        config_path = out_dir / iso3 / "indicator-config" / f"{indicator.replace('.', '-')}.yml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        written[f"{out_dir.name}/{iso3}/indicator-config/{config_path.name}"] = {
            "path": str(config_path),
            "rows": 0,
            "format": "Open SDG indicator configuration (YAML)",
        }
    return written
