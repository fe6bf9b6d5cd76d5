"""The Open SDG vocabulary: what the disaggregation columns of Open SDG CSV files mean.

Open SDG files (the format of national SDG reporting platforms) carry `Year`, any number of
disaggregation columns with human labels (`Sex`, `Age group`, `Disability`, `Indigenous
identity`, ...), optional `Series`, `Units`, `GeoCode`, `Observation status`, and `Value`. Each
indicator file has its own columns, so an Open SDG source cannot declare them one by one: the
registry's top-level ``vocabulary`` says, once for every Open SDG source, which column label is
which SDMX dimension (or attribute, or LNOB group), which category label is which code, and which
labels mean the total. A source may extend it (its own ``vocabulary``), and declares how the
several series of one indicator are told apart (its ``series``).

Everything here is parsed into :class:`VocabColumn` and :class:`SeriesRule` and written into the
``partner_code_map`` seed (so the staging fingerprint changes when the vocabulary does):

- ``open_sdg_column``   column label or alias (casefolded) -> the column's key
- ``open_sdg_dimension`` column key -> SDMX dimension (SEX, AGE, ..., CUST_BREAKDOWN, REF_AREA)
  or attribute (OBS_STATUS, UNIT_MULT, COMMENT_OBS) or SERIES (a column that tells series apart)
- ``col:<key>``         category label (casefolded) -> code; the column's total labels -> ``_T``
- ``area``              country, area, region names and aliases -> M49 or LNOB area code
- ``series_by``         indicator -> the column key whose value picks the series
- ``series:<indicator>`` that column's value (or a series name) -> series code; ``*`` the default

A column or category nobody declared is never read as a total: the column holds the delivery back
(:func:`lnob.quality.isolation.unmapped_columns`), the category stages as ``UNMAPPED:<column>=<label>``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Dimensions a vocabulary column may carry, with the SDMX codelist its codes must come from.
#: CUST_BREAKDOWN codes are the registry's group codes; REF_AREA codes come from `countries`.
DIMENSIONS = {
    "SEX": "CL_SEX",
    "AGE": "CL_AGE",
    "URBANISATION": "CL_URBANISATION",
    "INCOME_WEALTH_QUANTILE": "CL_QUANTILE",
    "EDUCATION_LEV": "CL_EDUCATION_LEV",
    "OCCUPATION": "CL_OCCUPATION",
    "COMPOSITE_BREAKDOWN": "CL_COMP_BREAKDOWN",
    "DISABILITY_STATUS": "CL_DISABILITY",
    "ACTIVITY": "CL_ACTIVITY",
    "PRODUCT": "CL_PRODUCT",
    "CUST_BREAKDOWN": "group",
    "REF_AREA": "area",
    # attributes
    "OBS_STATUS": "CL_OBS_STATUS",
    "UNIT_MULT": None,
    "COMMENT_OBS": None,
}
#: Labels that mean "no breakdown" in every column (a blank cell always does).
DEFAULT_TOTALS = ("total",)
_COLUMN_KEYS = {"column", "aliases", "dimension", "totals", "codes"}
_SERIES_KEYS = {"by", "codes", "default"}
_INDICATOR = re.compile(r"^\d{1,2}\.[0-9a-z]{1,2}\.\d{1,2}$")


@dataclass(frozen=True)
class VocabColumn:
    """One disaggregation (or attribute) column of Open SDG files."""

    column: str
    dimension: str
    aliases: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()
    codes: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.column.strip().casefold()

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.column, *self.aliases)


@dataclass(frozen=True)
class SeriesRule:
    """How the series of one indicator's rows is found when the file has no `Series` value."""

    indicator: str
    by: str | None = None
    codes: dict[str, str] = field(default_factory=dict)
    default: str | None = None


def sdmx_codelists(dbt_project_dir: Path) -> dict[str, set[str]]:
    """codelist id -> codes, from the DSD seed (empty when the seed is not there)."""
    path = Path(dbt_project_dir) / "seeds" / "reference" / "sdmx_codes.csv"
    out: dict[str, set[str]] = {}
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                out.setdefault(r["codelist_id"], set()).add(r["code"])
    return out


def series_codes(dbt_project_dir: Path) -> set[str]:
    """SDG and LNOB series codes (the seeds), to check the series a registry names."""
    codes: set[str] = set()
    for folder, name in (("reference", "sdg_series.csv"), ("lnob", "lnob_series.csv")):
        path = Path(dbt_project_dir) / "seeds" / folder / name
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                codes |= {r["series_code"] for r in csv.DictReader(fh)}
    return codes


def parse_columns(
    raw: Any, where: str, groups: set[str], codelists: dict[str, set[str]], problems: list[str]
) -> list[VocabColumn]:
    """A list of vocabulary columns (the top-level ``vocabulary.columns`` or a source's
    ``vocabulary``); every problem is appended as ``key.path: message``."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        problems.append(f"{where}: expected a list of columns ({{column, dimension, codes, ...}})")
        return []
    out: list[VocabColumn] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(raw):
        cwhere = f"{where}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{cwhere}: expected a mapping with column and dimension, found {item!r}")
            continue
        for key in item:
            if key not in _COLUMN_KEYS:
                problems.append(f"{cwhere}.{key}: unknown key (allowed: {', '.join(sorted(_COLUMN_KEYS))})")
        column, dimension = item.get("column"), item.get("dimension")
        if not isinstance(column, str) or not column.strip():
            problems.append(f"{cwhere}.column: missing (required): the column label as files spell it")
            continue
        if dimension not in DIMENSIONS:
            problems.append(f"{cwhere}.dimension: {dimension!r} is not one of {sorted(DIMENSIONS)}")
            continue
        aliases = item.get("aliases") or []
        totals = item.get("totals") or []
        codes = item.get("codes") or {}
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            problems.append(f"{cwhere}.aliases: expected a list of column labels")
            aliases = []
        if not isinstance(totals, list) or not all(isinstance(t, str) for t in totals):
            problems.append(f"{cwhere}.totals: expected a list of category labels meaning the total")
            totals = []
        if not isinstance(codes, dict):
            problems.append(f"{cwhere}.codes: expected a mapping of category label -> code")
            codes = {}
        for label in (column, *aliases):
            folded = label.strip().casefold()
            if folded in seen:
                problems.append(f"{cwhere}: column label {label!r} is already declared ({seen[folded]})")
            seen[folded] = cwhere
        allowed = _allowed(dimension, groups, codelists)
        mapped: dict[str, str] = {}
        for label, code in codes.items():
            code = str(code)
            if allowed is not None and code not in allowed:
                what = (
                    "a group code of `groups`"
                    if dimension == "CUST_BREAKDOWN"
                    else f"a code of {DIMENSIONS[dimension]}"
                )
                problems.append(f"{cwhere}.codes.{label}: {code!r} is not {what}")
            mapped[str(label).strip().casefold()] = code
        out.append(
            VocabColumn(
                column.strip(),
                dimension,
                tuple(a.strip() for a in aliases),
                tuple(t.strip() for t in totals),
                mapped,
            )
        )
    return out


def _allowed(dimension: str, groups: set[str], codelists: dict[str, set[str]]) -> set[str] | None:
    codelist = DIMENSIONS[dimension]
    if codelist == "group":
        return groups
    if codelist == "area" or codelist is None or codelist not in codelists:
        return None  # areas come from `countries`; free attributes; no DSD seed to check against
    return codelists[codelist]


def parse_vocabulary(
    doc: Any, groups: set[str], codelists: dict[str, set[str]], problems: list[str]
) -> list[VocabColumn]:
    """The registry's top-level ``vocabulary: {columns: [...]}``."""
    if doc is None:
        return []
    if not isinstance(doc, dict):
        problems.append("vocabulary: expected a mapping with `columns`")
        return []
    for key in doc:
        if key != "columns":
            problems.append(f"vocabulary.{key}: unknown key (allowed: columns)")
    return parse_columns(doc.get("columns"), "vocabulary.columns", groups, codelists, problems)


def extend(shared: list[VocabColumn], own: list[VocabColumn]) -> tuple[VocabColumn, ...]:
    """A source's vocabulary: the shared one, with the source's columns added; a source column
    with the label of a shared one extends it (its codes, totals and aliases are added)."""
    by_key = {c.key: c for c in shared}
    for c in own:
        base = by_key.get(c.key)
        if base is None:
            by_key[c.key] = c
        else:
            by_key[c.key] = VocabColumn(
                base.column,
                c.dimension,
                tuple(dict.fromkeys((*base.aliases, *c.aliases))),
                tuple(dict.fromkeys((*base.totals, *c.totals))),
                {**base.codes, **c.codes},
            )
    return tuple(by_key.values())


def parse_series(
    raw: Any, where: str, known_series: set[str], vocab: tuple[VocabColumn, ...], problems: list[str]
) -> dict[str, SeriesRule]:
    """A source's ``series``: indicator -> {by: <column>, codes: {<value>: SERIES}, default: SERIES}."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping of indicator (e.g. '16.1.1') -> {{by, codes, default}}")
        return {}
    out: dict[str, SeriesRule] = {}
    labels = {label.casefold() for c in vocab for label in c.labels}
    for indicator, rule in raw.items():
        iwhere = f"{where}.{indicator}"
        indicator = str(indicator)
        if not _INDICATOR.match(indicator):
            problems.append(f"{iwhere}: {indicator!r} is not an SDG indicator number such as '16.1.1'")
            continue
        if not isinstance(rule, dict):
            problems.append(f"{iwhere}: expected a mapping with by/codes and/or default")
            continue
        for key in rule:
            if key not in _SERIES_KEYS:
                problems.append(f"{iwhere}.{key}: unknown key (allowed: {', '.join(sorted(_SERIES_KEYS))})")
        by, codes, default = rule.get("by"), rule.get("codes") or {}, rule.get("default")
        if by is not None and (not isinstance(by, str) or not by.strip()):
            problems.append(f"{iwhere}.by: expected the label of the column that tells the series apart")
            by = None
        if by and by.casefold() in labels:
            problems.append(
                f"{iwhere}.by: {by!r} is a disaggregation of the vocabulary; series are told "
                "apart by another column (Units, or a column of their own)"
            )
        if by and not codes:
            problems.append(f"{iwhere}.codes: missing (required with `by`): the {by} value of each series")
        if not by and not default:
            problems.append(f"{iwhere}: declare `default` (the indicator's series) or `by` and `codes`")
        if not isinstance(codes, dict):
            problems.append(f"{iwhere}.codes: expected a mapping of value -> series code")
            codes = {}
        for code in [*codes.values(), *([default] if default else [])]:
            if known_series and str(code) not in known_series:
                problems.append(f"{iwhere}: {code!r} is not an SDG or LNOB series code")
        out[indicator] = SeriesRule(
            indicator,
            by.strip() if by else None,
            {str(k).strip().casefold(): str(v) for k, v in codes.items()},
            str(default) if default else None,
        )
    return out


def code_map_rows(
    source_id: str, vocab: tuple[VocabColumn, ...], series: dict[str, SeriesRule], area_names: dict[str, str]
) -> list[tuple[str, str, str, str]]:
    """The rows of ``partner_code_map`` that carry one Open SDG source's vocabulary."""
    rows: dict[tuple[str, str], str] = {}
    for c in vocab:
        for label in c.labels:
            rows[("open_sdg_column", label.casefold())] = c.key
        rows[("open_sdg_dimension", c.key)] = c.dimension
        if c.dimension in ("REF_AREA", "UNIT_MULT", "COMMENT_OBS"):
            continue
        for total in (*DEFAULT_TOTALS, *c.totals):
            if c.dimension != "OBS_STATUS":
                rows[(f"col:{c.key}", total.casefold())] = "_T"
        for label, code in c.codes.items():
            rows[(f"col:{c.key}", label)] = code
    for spelling, code in area_names.items():
        rows[("area", spelling)] = code
    for rule in series.values():
        if rule.by:
            key = rule.by.casefold()
            rows[("series_by", rule.indicator)] = key
            if key not in ("units", "series"):
                rows.setdefault(("open_sdg_column", key), key)
                rows.setdefault(("open_sdg_dimension", key), "SERIES")
        for value, code in rule.codes.items():
            rows[(f"series:{rule.indicator}", value)] = code
        if rule.default:
            rows[(f"series:{rule.indicator}", "*")] = rule.default
    return [
        (source_id, code_list, partner_code, canonical)
        for (code_list, partner_code), canonical in sorted(rows.items())
    ]


def known_columns(vocab: tuple[VocabColumn, ...], series: dict[str, SeriesRule]) -> set[str]:
    """Casefolded labels of every column an Open SDG source reads beside its fixed fields."""
    return {label.casefold() for c in vocab for label in c.labels} | {
        r.by.casefold() for r in series.values() if r.by
    }


def status_labels(vocab: tuple[VocabColumn, ...]) -> set[str]:
    """Casefolded labels of the observation status columns (a blank value needs one of them)."""
    return {label.casefold() for c in vocab if c.dimension == "OBS_STATUS" for label in c.labels}
