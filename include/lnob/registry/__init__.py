"""The partner and source registry: who delivers what, in which shape, under which contract.

The registry is YAML (``registry.yml`` beside this file, or ``LNOB_REGISTRY``). It is validated as
a whole before anything runs; every problem is reported with the file and the key path
(``sources[0].fields[3].type``) so a data engineer can fix it without reading code. Adding a
partner, a country or a source is an edit of that file, never of this module.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lnob.platform.config import settings
from lnob.platform.errors import NotRetryable
from lnob.registry import vocabulary as vocab

SOURCE_TYPES = {"file_drop", "kobotoolbox", "odk_central", "unsd_sdg_api", "sdmx_ml", "open_sdg_csv"}
#: Which delivery formats each source type may use.
TYPE_FORMATS = {
    "file_drop": {"csv", "xlsx", "json", "jsonl"},
    "kobotoolbox": {"kobo_json"},
    "odk_central": {"odata_json"},
    "unsd_sdg_api": {"unsd_json"},
    "sdmx_ml": {"sdmx_ml"},
    "open_sdg_csv": {"csv"},
}
API_TYPES = {"kobotoolbox", "odk_central", "unsd_sdg_api"}
FIELD_TYPES = {
    "text": "text",
    "integer": "bigint",
    "numeric": "double precision",
    "date": "date",
    "boolean": "boolean",
    "timestamp": "timestamptz",
}
GATE_POLICIES = {"block", "quarantine"}
CADENCES = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}
PARTNER_KINDS = {"community", "official"}
GROUP_DIMENSIONS = {"ethnicity", "caste", "displacement", "poverty", "migration"}
ENTITIES = {"person", "household_member", "household", "testimony", "observation"}

#: Canonical code lists a code map may produce. ``group``, ``voice_group`` and ``admin1`` are
#: filled from the registry itself (its groups and each country's areas); the ``sdmx_*`` lists
#: are the SDG DSD's codelists.
FIXED_CANONICAL = {
    "sex": {"F", "M", "_O", "_U"},
    "urbanisation": {"U", "R", "_U"},
    "yes_no": {"1", "0", "_U", "_Z"},
    "wg": {"1", "2", "3", "4", "_U"},
    "theme": {"HEALTH", "WATER", "DOCUMENTATION", "DISCRIMINATION", "POVERTY"},
    "sdmx_sex": {"_T", "F", "M"},
    "sdmx_age": {"_T", "Y0T4", "Y0T5", "Y_GE15", "Y_GE18"},
    "sdmx_urbanisation": {"_T", "U", "R"},
    # CL_UNIT_MEASURE codes of the series the partnership compares (percent, index, count)
    "sdmx_unit_measure": {"PT", "IX", "NUMBER", "PER_100000_POP"},
    # A submission's review by the partner's supervisors, in ODK Central's words (KoboToolbox's
    # `_validation_status` uids are mapped onto them): only `rejected` leaves the estimates.
    "review_state": {"received", "approved", "hasIssues", "edited", "rejected"},
}
DERIVED_CANONICAL = {"group", "voice_group", "admin1"}

_KEYS = {
    "top": {
        "icsos",
        "countries",
        "groups",
        "code_maps",
        "vocabulary",
        "partners",
        "sources",
        "national_series",
    },
    "icso": {"id", "name"},
    "country": {"iso3", "m49", "name", "areas", "regions"},
    "area": {"code", "name", "aliases"},
    "region": {"code", "name", "aliases", "kind"},
    "group": {"code", "cust_breakdown", "dimension", "label", "marginalised"},
    "code_map": {"canonical", "codes"},
    "partner": {"id", "name", "kind", "country", "icso", "members"},
    "source": {
        "id",
        "partner",
        "type",
        "entity",
        "cadence",
        "connection",
        "file_pattern",
        "format",
        "gate_policy",
        "fields",
        "codes",
        "description",
        "harmonise",
        "vocabulary",
        "series",
    },
    "field": {
        "name",
        "source",
        "type",
        "required",
        "identifier",
        "pseudonymise",
        "free_text",
        "codes",
        "multiple",
    },
    "national_series": {"code", "name", "indicators", "unit", "unit_mult", "partner", "country", "scope"},
}
_FORMAT_KEYS = {
    "csv": {"kind", "encoding", "delimiter", "date_format", "indicator_from", "metadata_fields"},
    "xlsx": {"kind", "sheet", "header_row", "date_format"},
    "json": {"kind", "records"},
    "jsonl": {"kind"},
    "kobo_json": {
        "kind",
        "asset_uid",
        "page_size",
        "repeat",
        "key",
        "incremental",
        "metadata_fields",
        "discard",
    },
    "odata_json": {
        "kind",
        "project_id",
        "form_id",
        "page_size",
        "key",
        "incremental",
        "metadata_fields",
        "discard",
    },
    "unsd_json": {"kind", "page_size", "series", "areas", "metadata_fields"},
    "sdmx_ml": {"kind", "dsd", "dataflow", "metadata_fields"},
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class RegistryError(NotRetryable, ValueError):
    """The registry is invalid. ``problems`` lists each one as ``key.path: message``."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(
            f"invalid registry {path} ({len(problems)} problem(s)):\n"
            + "\n".join(f"  {path}: {p}" for p in problems)
        )


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    source_name: str = ""
    required: bool = False
    identifier: bool = False
    pseudonymise: bool = False
    free_text: bool = False
    codes: str | None = None
    #: A select_multiple answer: a space-separated list of choice names, each recoded on its own.
    multiple: bool = False

    @property
    def label(self) -> str:
        """The partner's own name for this field (what a quarantine reason shows)."""
        return self.source_name or self.name

    @property
    def sql_type(self) -> str:
        return FIELD_TYPES[self.type]


@dataclass(frozen=True)
class CodeMap:
    name: str
    canonical: str
    codes: dict[str, str]


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Country:
    iso3: str
    m49: str
    name: str
    areas: tuple[Area, ...] = ()
    #: Areas that are not first-level: city regions, groups of provinces (Open SDG geographies).
    regions: tuple[Area, ...] = ()

    def area_names(self) -> dict[str, str]:
        """Every spelling of the country and its areas and regions (casefolded) -> its code."""
        out = {s.strip().casefold(): self.m49 for s in (self.name, self.iso3, self.m49)}
        for area in (*self.areas, *self.regions):
            for spelling in (area.code, area.name, *area.aliases):
                out[str(spelling).strip().casefold()] = area.code
        return out


@dataclass(frozen=True)
class Group:
    code: str
    cust_breakdown: str
    dimension: str
    label: str
    marginalised: bool


@dataclass(frozen=True)
class Partner:
    id: str
    name: str
    kind: str
    country: str | None = None
    icso: str | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    id: str
    partner: str
    type: str
    entity: str
    cadence: str
    file_pattern: str
    format: dict[str, Any]
    gate_policy: str
    fields: tuple[Field, ...]
    codes: dict[str, CodeMap] = field(default_factory=dict)
    connection: str | None = None
    country: str | None = None
    #: What the source is, in a sentence or two: the doc of its raw table and staging model.
    description: str = ""
    #: Person sources: harmonised person column -> the field(s) it is made of, where the field's
    #: name alone does not say it (see :func:`_harmonise` and lnob.registry.dbt_files).
    harmonise: dict[str, Any] = field(default_factory=dict)
    #: Open SDG sources: the vocabulary of their disaggregation columns and their series rules.
    vocabulary: tuple[vocab.VocabColumn, ...] = ()
    series: dict[str, vocab.SeriesRule] = field(default_factory=dict)

    @property
    def raw_table(self) -> str:
        return self.id

    @property
    def kind(self) -> str:
        return self.format.get("kind", "")

    @property
    def multiple_fields(self) -> list[str]:
        """The fields holding a set of choices (``multiple: true``)."""
        return [f.name for f in self.fields if f.multiple]


@dataclass(frozen=True)
class NationalSeries:
    """A series a producer reports that the vendored SDG series list does not hold: a national
    series (``_L_KEN_...``, scope ``national``) or a global SDG series newer than the vendored list
    (scope ``global``)."""

    code: str
    name: str
    indicators: tuple[str, ...]
    unit: str
    unit_mult: str
    partner: str
    country: str | None
    scope: str


@dataclass(frozen=True)
class Registry:
    path: Path
    icsos: dict[str, str]
    countries: dict[str, Country]
    groups: dict[str, Group]
    partners: dict[str, Partner]
    sources: dict[str, Source]
    national_series: dict[str, NationalSeries] = field(default_factory=dict)

    def source(self, source_id: str) -> Source:
        try:
            return self.sources[source_id]
        except KeyError:
            raise KeyError(
                f"unknown source {source_id!r} (registry {self.path} has: {', '.join(self.sources)})"
            ) from None

    def sources_of(self, partner_id: str) -> list[Source]:
        return [s for s in self.sources.values() if s.partner == partner_id]

    def code_map_csv(self) -> str:
        """Every source's code maps as the CSV of the ``partner_code_map`` dbt seed."""
        rows = [
            (src.id, name, partner_code, canonical)
            for src in sorted(self.sources.values(), key=lambda s: s.id)
            for name in sorted(src.codes)
            for partner_code, canonical in sorted(src.codes[name].codes.items())
        ]
        rows += self.vocabulary_rows()
        return _csv(
            ["source_id", "code_list", "partner_code", "canonical_code"],
            sorted(rows, key=lambda r: (r[0], r[1], r[2])),
        )

    def vocabulary_rows(self) -> list[tuple[str, str, str, str]]:
        """The Open SDG sources' vocabulary, series rules and area names as code-map rows."""
        rows = []
        for src in sorted(self.sources.values(), key=lambda s: s.id):
            if src.type != "open_sdg_csv":
                continue
            country = self.countries.get(src.country or "")
            rows += vocab.code_map_rows(
                src.id, src.vocabulary, src.series, country.area_names() if country else {}
            )
        return rows

    def countries_csv(self) -> str:
        """The countries as the CSV of the ``lnob_countries`` dbt seed."""
        return _csv(
            ["iso3", "m49", "country_name"],
            [(c.iso3, c.m49, c.name) for c in sorted(self.countries.values(), key=lambda c: c.iso3)],
        )

    def areas_csv(self) -> str:
        """First-level areas as the CSV of the ``lnob_areas`` dbt seed."""
        return _csv(
            ["area_code", "iso3", "area_name"],
            sorted((a.code, c.iso3, a.name) for c in self.countries.values() for a in (*c.areas, *c.regions)),
        )

    def partners_csv(self) -> str:
        """The partners as the CSV of the ``lnob_partners`` dbt seed (no contact details)."""
        return _csv(
            ["partner_id", "partner_name", "kind", "country_iso3", "icso", "members"],
            [
                (p.id, p.name, p.kind, p.country or "", p.icso or "", ";".join(p.members))
                for p in sorted(self.partners.values(), key=lambda p: p.id)
            ],
        )

    def sources_csv(self) -> str:
        """The sources as the CSV of the ``lnob_sources`` dbt seed: who delivers what, how often."""
        return _csv(
            [
                "source_id",
                "partner_id",
                "source_type",
                "entity",
                "cadence",
                "country_iso3",
                "gate_policy",
                "multiple_fields",
            ],
            [
                (
                    s.id,
                    s.partner,
                    s.type,
                    s.entity,
                    s.cadence,
                    s.country or self.partners[s.partner].country or "",
                    s.gate_policy,
                    ";".join(s.multiple_fields),
                )
                for s in sorted(self.sources.values(), key=lambda s: s.id)
            ],
        )

    def national_series_csv(self) -> str:
        """The declared national (and newer global) series as the CSV of the
        ``lnob_national_series`` dbt seed: the codelist checks, dim_indicator and the SDMX export's
        CL_SERIES extension read it beside ``sdg_series`` and ``lnob_series``."""
        return _csv(
            [
                "series_code",
                "series_name",
                "indicators",
                "unit_measure",
                "unit_mult",
                "scope",
                "country_iso3",
                "partner_id",
            ],
            [
                (
                    n.code,
                    n.name,
                    ",".join(n.indicators),
                    n.unit,
                    n.unit_mult,
                    n.scope,
                    n.country or "",
                    n.partner,
                )
                for n in sorted(self.national_series.values(), key=lambda n: n.code)
            ],
        )

    def custom_breakdowns_csv(self) -> str:
        """The groups as the CSV of the ``lnob_custom_breakdowns`` dbt seed."""
        return _csv(
            ["group_code", "cust_breakdown", "label", "dimension", "is_marginalised"],
            [
                (g.code, g.cust_breakdown, g.label, g.dimension, str(g.marginalised).lower())
                for g in sorted(self.groups.values(), key=lambda g: g.cust_breakdown)
            ],
        )


def _csv(header: list[str], rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Validation helpers: each appends ``key.path: message`` to ``problems``
# --------------------------------------------------------------------------------------------


def _require(obj: Any, key: str, where: str, problems: list[str], kind: type | tuple = str) -> Any:
    if not isinstance(obj, dict) or key not in obj or obj[key] in (None, ""):
        problems.append(f"{where}.{key}: missing (required)")
        return None
    if not isinstance(obj[key], kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        problems.append(f"{where}.{key}: expected {expected}, found {type(obj[key]).__name__} {obj[key]!r}")
        return None
    return obj[key]


def _one_of(value: Any, allowed: set[str] | dict, where: str, problems: list[str]) -> bool:
    if value not in allowed:
        problems.append(f"{where}: {value!r} is not one of {sorted(allowed)}")
        return False
    return True


def _unknown_keys(obj: Any, allowed: set[str], where: str, problems: list[str]) -> None:
    if not isinstance(obj, dict):
        return
    for key in obj:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            problems.append(f"{where}.{key}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _mapping_list(doc: dict, key: str, problems: list[str]) -> list[tuple[str, dict]]:
    """The entries of a top-level list, each with its key path; non-mappings are reported."""
    items = doc.get(key) or []
    if not isinstance(items, list):
        problems.append(f"{key}: expected a list, found {type(items).__name__}")
        return []
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping, found {type(item).__name__} {item!r}")
            continue
        out.append((where, item))
    return out


def _code_map(
    raw: Any, name: str, where: str, canonical_lists: dict[str, set[str]], problems: list[str]
) -> CodeMap | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping with canonical and codes")
        return None
    _unknown_keys(raw, _KEYS["code_map"], where, problems)
    canonical = _require(raw, "canonical", where, problems)
    codes = _require(raw, "codes", where, problems, dict)
    if canonical is None or codes is None:
        return None
    if canonical == "admin1":
        problems.append(
            f"{where}.canonical: 'admin1' maps are built from the country's areas; "
            "use `codes: admin1` on the field instead"
        )
        return None
    if not _one_of(canonical, canonical_lists, f"{where}.canonical", problems):
        return None
    allowed = canonical_lists[canonical]
    out: dict[str, str] = {}
    for partner_code, code in codes.items():
        key = str(partner_code).strip().lower()
        if str(code) not in allowed:
            problems.append(
                f"{where}.codes.{partner_code}: {code!r} is not a canonical {canonical} code "
                f"({', '.join(sorted(allowed))})"
            )
        out[key] = str(code)
    return CodeMap(name, canonical, out)


def _admin1_map(country: Country) -> CodeMap:
    codes: dict[str, str] = {}
    for area in country.areas:
        for spelling in (area.code, area.name, *area.aliases):
            codes[str(spelling).strip().lower()] = area.code
    return CodeMap("admin1", "admin1", codes)


def _check_format(fmt: Any, stype: str | None, where: str, problems: list[str]) -> dict:
    if not isinstance(fmt, dict):
        problems.append(f"{where}: missing (required): a mapping with at least `kind`")
        return {}
    kind = fmt.get("kind")
    allowed = TYPE_FORMATS.get(stype or "", set())
    if stype in TYPE_FORMATS and kind not in allowed:
        problems.append(f"{where}.kind: {kind!r} is not a format of a {stype} source ({sorted(allowed)})")
        return fmt
    _unknown_keys(fmt, _FORMAT_KEYS.get(str(kind), {"kind"}), where, problems)
    for key in ("metadata_fields", "discard"):
        meta = fmt.get(key, [])
        if not isinstance(meta, list) or not all(isinstance(m, str) and m for m in meta):
            problems.append(f"{where}.{key}: {meta!r} is not a list of field names")
    if kind == "csv":
        try:
            codecs.lookup(fmt.get("encoding", "utf-8"))
        except LookupError:
            problems.append(f"{where}.encoding: {fmt.get('encoding')!r} is not a known text encoding")
        delimiter = fmt.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            problems.append(f"{where}.delimiter: expected one character, found {delimiter!r}")
    if kind in ("csv", "xlsx") and "date_format" in fmt:
        if not isinstance(fmt["date_format"], str) or "%" not in fmt["date_format"]:
            problems.append(f"{where}.date_format: expected a strftime pattern such as '%d/%m/%Y'")
    if kind == "xlsx":
        _require(fmt, "sheet", where, problems)
        row = fmt.get("header_row", 1)
        if not isinstance(row, int) or row < 1:
            problems.append(f"{where}.header_row: expected a row number >= 1, found {row!r}")
    if kind == "kobo_json":
        _require(fmt, "asset_uid", where, problems)
    if kind == "odata_json":
        _require(fmt, "project_id", where, problems, int)
        _require(fmt, "form_id", where, problems)
    if kind == "unsd_json":
        _require(fmt, "series", where, problems, list)
        _require(fmt, "areas", where, problems, list)
    if kind in ("kobo_json", "odata_json", "unsd_json"):
        size = fmt.get("page_size", 1000)
        if not isinstance(size, int) or not 1 <= size <= 30000:
            problems.append(f"{where}.page_size: expected a whole number 1..30000, found {size!r}")
    return fmt


#: Entities staged as persons (one row per person, `stage_persons`): their sources may say in
#: `harmonise` which fields make which harmonised column.
PERSON_ENTITIES = {"person", "household_member"}
#: Harmonised columns made of one or more fields as a keyed-hash pseudonym.
PSEUDONYM_COLUMNS = ("person_pid", "household_pid", "record_key")


def _harmonise(raw: Any, entity: str, fields: list[Field], where: str, problems: list[str]) -> dict:
    """A person source's `harmonise` mapping: harmonised column -> field name, a list of field
    names (the pseudonym columns, joined with '/'), or a number (`survey_weight`)."""
    if raw is None:
        return {}
    if entity not in PERSON_ENTITIES:
        problems.append(f"{where}: only a person or household_member source is harmonised by column")
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping of harmonised column -> field")
        return {}
    from lnob.registry import dbt_files

    columns = dbt_files.person_columns()
    by_name = {f.name: f for f in fields}
    out: dict[str, Any] = {}
    for column, value in raw.items():
        cwhere = f"{where}.{column}"
        if column not in columns or column in dbt_files.PERSON_LINEAGE or column.endswith("_set"):
            hint = difflib.get_close_matches(str(column), sorted(columns), n=1)
            problems.append(
                f"{cwhere}: not a harmonised person column"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
            continue
        names = value if isinstance(value, list) else [value]
        if column == "survey_weight" and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[column] = float(value)
            continue
        if len(names) > 1 and column not in PSEUDONYM_COLUMNS:
            problems.append(f"{cwhere}: only {', '.join(PSEUDONYM_COLUMNS)} may join several fields")
            continue
        ok = True
        for name in names:
            f = by_name.get(name) if isinstance(name, str) else None
            if name == "_loaded_at" and column == "record_version":
                continue
            if f is None:
                problems.append(f"{cwhere}: {name!r} is not a field of this source")
                ok = False
            elif f.identifier or f.free_text:
                problems.append(f"{cwhere}: {name!r} is an identifier or free text and never leaves raw")
                ok = False
        if ok:
            out[column] = list(names) if column in PSEUDONYM_COLUMNS else names[0]
    return out


# --------------------------------------------------------------------------------------------
# SDMX sources and national series (kept apart from the rest of ``load`` to ease merging)
# --------------------------------------------------------------------------------------------

#: The DSD concepts an SDMX source's staging recodes, with their codelist in the reference seed
#: ``sdmx_codes`` (``SERIES``: the series lists). A code map producing codes of one of them is
#: declared with ``canonical: sdmx_<concept in lower case>``.
SDMX_CODELISTS = {
    "FREQ": "CL_FREQ",
    "REPORTING_TYPE": "CL_REPORTING_TYPE",
    "SERIES": "SERIES",
    "REF_AREA": "CL_AREA",
    "SEX": "CL_SEX",
    "AGE": "CL_AGE",
    "URBANISATION": "CL_URBANISATION",
    "INCOME_WEALTH_QUANTILE": "CL_QUANTILE",
    "EDUCATION_LEV": "CL_EDUCATION_LEV",
    "OCCUPATION": "CL_OCCUPATION",
    "CUST_BREAKDOWN": "CL_CUST_BREAKDOWN",
    "COMPOSITE_BREAKDOWN": "CL_COMP_BREAKDOWN",
    "DISABILITY_STATUS": "CL_DISABILITY",
    "ACTIVITY": "CL_ACTIVITY",
    "PRODUCT": "CL_PRODUCT",
    "UNIT_MEASURE": "CL_UNIT_MEASURE",
    "UNIT_MULT": "CL_UNIT_MULT",
    "OBS_STATUS": "CL_OBS_STATUS",
    "NATURE": "CL_NATURE",
}
NATIONAL_SCOPES = {"national", "global"}
_SERIES_CODE = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


def _reference_seed(name: str) -> list[dict]:
    """Rows of a committed reference seed (``dbt_project/seeds/reference``), or none without it."""
    path = Path(settings().dbt_project_dir) / "seeds" / "reference" / name
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _sdmx_canonical(
    countries: dict[str, Country], groups: dict[str, Group], national: dict[str, NationalSeries]
) -> dict[str, set[str]]:
    """``sdmx_<concept>`` canonical lists: the DSD codelists of the reference seed, with the
    partnership's extensions. REF_AREA is the registry's own countries (M49) and areas (ISO
    3166-2) only: an area the registry does not know has no name to publish."""
    by_list: dict[str, set[str]] = {}
    for r in _reference_seed("sdmx_codes.csv"):
        by_list.setdefault(r["codelist_id"], set()).add(r["code"])
    series = {r["series_code"] for r in _reference_seed("sdg_series.csv")} | set(national)
    out: dict[str, set[str]] = {}
    for concept, codelist in SDMX_CODELISTS.items():
        name = f"sdmx_{concept.lower()}"
        out[name] = set(FIXED_CANONICAL.get(name, set())) | (
            series if codelist == "SERIES" else by_list.get(codelist, set())
        )
    out["sdmx_ref_area"] = {c.m49 for c in countries.values()} | {
        a.code for c in countries.values() for a in c.areas
    }
    out["sdmx_cust_breakdown"] |= {g.cust_breakdown for g in groups.values()}
    return out


def _national_series(
    doc: dict, partners: dict[str, Partner], countries: dict[str, Country], problems: list[str]
) -> dict[str, NationalSeries]:
    """The ``national_series`` section: series a producer reports beyond the vendored SDG series
    list. Each names its code, title, indicator(s), unit and the partner that reports it; a code
    beginning with ``_`` (``_L_KEN_...``) is national, any other a global SDG series the vendored
    list predates. A series already in the vendored list is refused (it would be listed twice)."""
    vendored = {r["series_code"] for r in _reference_seed("sdg_series.csv")}
    indicators = {r["indicator_code"] for r in _reference_seed("sdg_indicators.csv")}
    units = {r["code"] for r in _reference_seed("sdmx_codes.csv") if r["codelist_id"] == "CL_UNIT_MEASURE"}
    out: dict[str, NationalSeries] = {}
    for where, item in _mapping_list(doc, "national_series", problems):
        _unknown_keys(item, _KEYS["national_series"], where, problems)
        code = _require(item, "code", where, problems)
        name = _require(item, "name", where, problems)
        unit = _require(item, "unit", where, problems)
        pid = _require(item, "partner", where, problems)
        inds = item.get("indicators")
        if not isinstance(inds, list) or not inds or not all(isinstance(i, str) for i in inds):
            problems.append(
                f"{where}.indicators: expected a list of SDG indicator codes such as ['3.8.1'], "
                f"found {inds!r}"
            )
            inds = []
        for j, ind in enumerate(inds):
            if indicators and ind not in indicators:
                hint = difflib.get_close_matches(ind, sorted(indicators), n=1)
                problems.append(
                    f"{where}.indicators[{j}]: {ind!r} is not an SDG indicator"
                    + (f" (did you mean {hint[0]!r}?)" if hint else "")
                )
        if code and not _SERIES_CODE.match(code):
            problems.append(
                f"{where}.code: {code!r} is not a series code (capitals, digits and _, "
                "a national series beginning with _L_)"
            )
        if code in vendored:
            problems.append(
                f"{where}.code: {code!r} is already in the vendored SDG series list "
                "(reference/sdg_series.csv): remove it here"
            )
        if code in out:
            problems.append(f"{where}.code: duplicate series {code!r}")
        if unit and units and unit not in units:
            problems.append(f"{where}.unit: {unit!r} is not a CL_UNIT_MEASURE code")
        unit_mult = str(item.get("unit_mult", "0"))
        partner = partners.get(pid) if pid else None
        if pid and partner is None:
            problems.append(f"{where}.partner: {pid!r} is not a registered partner")
        country = item.get("country") or (partner.country if partner else None)
        if country and country not in countries:
            problems.append(f"{where}.country: {country!r} is not in countries")
        scope = item.get("scope") or ("national" if str(code or "").startswith("_") else "global")
        _one_of(scope, NATIONAL_SCOPES, f"{where}.scope", problems)
        if scope == "national" and not country:
            problems.append(f"{where}.country: missing (a national series belongs to a country)")
        if code and name and unit and partner and inds:
            out[code] = NationalSeries(code, str(name), tuple(inds), unit, unit_mult, pid, country, scope)
    return out


#: Source types whose staging macro (stage_sdmx_observations, stage_unsd_observations) looks a
#: column's code map up by the column's name.
MAP_BY_COLUMN_TYPES = {"sdmx_ml", "unsd_sdg_api"}


def _check_sdmx_fields(source: dict, where: str, problems: list[str]) -> None:
    """An SDMX or UN SDG API source's staging macro looks each column's code map up by the
    column's name, so a coded field of such a source uses the map named like the field."""
    if source.get("type") not in MAP_BY_COLUMN_TYPES:
        return
    for j, f in enumerate(source.get("fields") or []):
        if isinstance(f, dict) and f.get("codes") and f.get("codes") != f.get("name"):
            problems.append(
                f"{where}.fields[{j}].codes: a {source.get('type')} source recodes a column through the "
                f"code map of the same name: name the map {f.get('name')!r}, not {f.get('codes')!r}"
            )


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


#: The last registries parsed in this process, by what they were parsed from (:func:`_inputs`).
#: A night loads the registry in every task (about 30 times in one `airflow dags test` process).
_PARSED: dict[tuple, Registry] = {}


def _inputs(path: Path) -> tuple:
    """What a parse of ``path`` depends on: the file's bytes (as a digest) and the dbt project's
    reference and partnership seeds it checks codes against (path, size and modification time).
    Equal inputs, equal registry."""
    import hashlib

    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ()  # unreadable: _read names the problem, nothing is cached
    seeds = Path(settings().dbt_project_dir) / "seeds"
    stamps = []
    for folder in ("reference", "lnob"):
        for seed in sorted((seeds / folder).glob("*.csv")):
            st = seed.stat()
            stamps.append((seed.name, st.st_size, st.st_mtime_ns))
    return (str(path.resolve()), digest, str(seeds.resolve()), tuple(stamps))


def load(path: Path | None = None) -> Registry:
    """Load and validate the registry; raise :class:`RegistryError` naming every problem.

    Each top-level section has its own parser, called in the order a later section needs an
    earlier one (sources need partners, partners need countries and ICSOs ...); all of them append
    ``key.path: message`` to one list, so every problem of the file is reported at once.

    A registry parsed before in this process from the same bytes and seeds is returned as a copy
    (an invalid one is parsed again, so its problems are raised every time)."""
    import copy

    path = Path(path or settings().registry_path)
    key = _inputs(path)
    if key and key in _PARSED:
        return copy.deepcopy(_PARSED[key])
    registry = _parse(path)
    if key:
        _PARSED.clear()  # one process, one registry at a time: keep only the latest
        _PARSED[key] = registry
    return copy.deepcopy(registry)


def _parse(path: Path) -> Registry:
    doc = _read(path)
    problems: list[str] = []
    _unknown_keys(doc, _KEYS["top"], "(top level)", problems)
    icsos = _icsos(doc, problems)
    countries = _countries(doc, problems)
    groups = _groups(doc, problems)
    codelists = vocab.sdmx_codelists(settings().dbt_project_dir)
    shared_vocabulary = vocab.parse_vocabulary(doc.get("vocabulary"), set(groups), codelists, problems)
    known_series = vocab.series_codes(settings().dbt_project_dir)
    canonical_lists = _canonical_lists(countries, groups)
    shared_maps = _code_maps(doc, canonical_lists, problems)
    partners = _partners(doc, icsos, countries, problems)
    national_series = _national_series(doc, partners, countries, problems)
    canonical_lists["sdmx_series"] |= set(national_series)
    ctx = _SourceContext(
        countries,
        set(groups),
        partners,
        canonical_lists,
        shared_maps,
        shared_vocabulary,
        codelists,
        known_series,
    )
    sources = _sources(doc, ctx, problems)
    if problems:
        raise RegistryError(path, problems)
    return Registry(
        path=path,
        icsos=icsos,
        countries=countries,
        groups=groups,
        partners=partners,
        sources=sources,
        national_series=national_series,
    )


def _read(path: Path) -> dict:
    """The registry file as a YAML mapping; a missing or unreadable file is a problem on its own."""
    try:
        # libyaml's safe loader when PyYAML has it (the same documents, about 7x faster)
        doc = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except FileNotFoundError:
        raise RegistryError(path, ["file not found"]) from None
    except yaml.YAMLError as exc:
        raise RegistryError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(doc, dict):
        raise RegistryError(
            path, ["top level must be a mapping with icsos, countries, groups, code_maps, partners, sources"]
        )
    return doc


def _icsos(doc: dict, problems: list[str]) -> dict[str, str]:
    """The ``icsos`` section: ICSO id -> name."""
    icsos: dict[str, str] = {}
    for where, item in _mapping_list(doc, "icsos", problems):
        _unknown_keys(item, _KEYS["icso"], where, problems)
        iid, name = _require(item, "id", where, problems), _require(item, "name", where, problems)
        if iid in icsos:
            problems.append(f"{where}.id: duplicate ICSO id {iid!r}")
        if iid and name:
            icsos[iid] = name
    return icsos


def _countries(doc: dict, problems: list[str]) -> dict[str, Country]:
    """The ``countries`` section, each with its areas and regions (area codes unique across all)."""
    countries: dict[str, Country] = {}
    area_codes: set[str] = set()
    for where, item in _mapping_list(doc, "countries", problems):
        _unknown_keys(item, _KEYS["country"], where, problems)
        iso3 = _require(item, "iso3", where, problems)
        m49 = _require(item, "m49", where, problems)
        name = _require(item, "name", where, problems)
        if iso3 and not re.fullmatch(r"[A-Z]{3}", iso3):
            problems.append(f"{where}.iso3: {iso3!r} is not an ISO 3166 alpha-3 code (three capitals)")
        if m49 and not re.fullmatch(r"\d{1,3}", m49):
            problems.append(f"{where}.m49: {m49!r} is not a UN M49 code (1-3 digits, quoted)")
        if iso3 in countries:
            problems.append(f"{where}.iso3: duplicate country {iso3!r}")
        areas = _areas(item.get("areas") or [], where, area_codes, problems)
        regions = _regions(item.get("regions"), where, area_codes, problems)
        if iso3 and m49 and name:
            countries[iso3] = Country(iso3, m49, name, areas, regions)
    return countries


def _areas(raw: list, where: str, area_codes: set[str], problems: list[str]) -> tuple[Area, ...]:
    """A country's first-level ``areas``; each code is added to ``area_codes``."""
    areas: list[Area] = []
    for j, a in enumerate(raw):
        awhere = f"{where}.areas[{j}]"
        _unknown_keys(a, _KEYS["area"], awhere, problems)
        code, aname = _require(a, "code", awhere, problems), _require(a, "name", awhere, problems)
        area = _new_area(a, code, aname, awhere, area_codes, problems)
        if area is not None:
            areas.append(area)
    return tuple(areas)


def _new_area(
    item: dict, code: str | None, name: str | None, where: str, area_codes: set[str], problems: list[str]
) -> Area | None:
    """An area or region whose code no other has taken (its code then joins ``area_codes``)."""
    if code in area_codes:
        problems.append(f"{where}.code: duplicate area code {code!r}")
    if not (code and name):
        return None
    area_codes.add(code)
    return Area(code, name, tuple(str(x) for x in item.get("aliases") or ()))


def _groups(doc: dict, problems: list[str]) -> dict[str, Group]:
    """The ``groups`` section: the marginalised (and comparison) groups, each a custom breakdown."""
    groups: dict[str, Group] = {}
    cust_codes: set[str] = set()
    for where, item in _mapping_list(doc, "groups", problems):
        _unknown_keys(item, _KEYS["group"], where, problems)
        code = _require(item, "code", where, problems)
        cust = _require(item, "cust_breakdown", where, problems)
        dimension = _require(item, "dimension", where, problems)
        label = _require(item, "label", where, problems)
        marginalised = _require(item, "marginalised", where, problems, bool)
        if cust and not re.fullmatch(r"C\d{2}", cust):
            problems.append(f"{where}.cust_breakdown: {cust!r} is not a custom breakdown code C01..C99")
        if cust in cust_codes:
            problems.append(f"{where}.cust_breakdown: {cust!r} is used by another group")
        if code in groups:
            problems.append(f"{where}.code: duplicate group {code!r}")
        if dimension:
            _one_of(dimension, GROUP_DIMENSIONS, f"{where}.dimension", problems)
        if code and cust and dimension and label and marginalised is not None:
            cust_codes.add(cust)
            groups[code] = Group(code, cust, dimension, label, marginalised)
    return groups


def _canonical_lists(countries: dict[str, Country], groups: dict[str, Group]) -> dict[str, set[str]]:
    """Every canonical code list a code map may produce (see ``FIXED_CANONICAL``)."""
    canonical_lists = {k: set(v) for k, v in FIXED_CANONICAL.items()}
    canonical_lists["group"] = set(groups)
    canonical_lists["voice_group"] = set(groups) | {"PD"}
    canonical_lists.update(_sdmx_canonical(countries, groups, {}))
    return canonical_lists


def _code_maps(doc: dict, canonical_lists: dict[str, set[str]], problems: list[str]) -> dict[str, CodeMap]:
    """The ``code_maps`` section: the maps every source may use."""
    shared_maps: dict[str, CodeMap] = {}
    raw_maps = doc.get("code_maps") or {}
    if not isinstance(raw_maps, dict):
        problems.append("code_maps: expected a mapping of map name -> {canonical, codes}")
        raw_maps = {}
    for name, raw in raw_maps.items():
        cmap = _code_map(raw, name, f"code_maps.{name}", canonical_lists, problems)
        if cmap:
            shared_maps[name] = cmap
    return shared_maps


def _partners(
    doc: dict, icsos: dict[str, str], countries: dict[str, Country], problems: list[str]
) -> dict[str, Partner]:
    """The ``partners`` section: who delivers, of which kind, in which country, with which ICSOs."""
    partners: dict[str, Partner] = {}
    for where, item in _mapping_list(doc, "partners", problems):
        partner = _partner(item, where, icsos, countries, problems)
        if partner.id in partners:
            problems.append(f"{where}.id: duplicate partner id {partner.id!r}")
        if partner.id and partner.name and partner.kind:
            partners[partner.id] = partner
    return partners


def _partner(
    item: dict, where: str, icsos: dict[str, str], countries: dict[str, Country], problems: list[str]
) -> Partner:
    """One partner, as declared (its id, name or kind may be missing: the caller keeps it or not)."""
    _unknown_keys(item, _KEYS["partner"], where, problems)
    pid = _require(item, "id", where, problems)
    name = _require(item, "name", where, problems)
    kind = _require(item, "kind", where, problems)
    if kind:
        _one_of(kind, PARTNER_KINDS, f"{where}.kind", problems)
    if pid and not _NAME.match(pid):
        problems.append(
            f"{where}.id: {pid!r} must be lower-case letters, digits and _ (it names the landing folder)"
        )
    country = item.get("country")
    if kind == "community" and not country:
        problems.append(f"{where}.country: missing (required for a community partner)")
    if country and country not in countries:
        problems.append(f"{where}.country: {country!r} is not in countries")
    icso = item.get("icso")
    if icso and icso not in icsos:
        problems.append(f"{where}.icso: {icso!r} is not in icsos")
    for j, member in enumerate(item.get("members") or []):
        if member not in icsos:
            problems.append(f"{where}.members[{j}]: {member!r} is not in icsos")
    return Partner(pid, name, kind, country, icso, tuple(item.get("members") or ()))


@dataclass(frozen=True)
class _SourceContext:
    """What the sections before ``sources`` give a source's validation."""

    countries: dict[str, Country]
    groups: set[str]
    partners: dict[str, Partner]
    canonical_lists: dict[str, set[str]]
    shared_maps: dict[str, CodeMap]
    shared_vocabulary: list
    codelists: dict[str, set[str]]
    known_series: set[str]


def _sources(doc: dict, ctx: _SourceContext, problems: list[str]) -> dict[str, Source]:
    """The ``sources`` section: a source with any problem of its own is left out (and reported)."""
    sources: dict[str, Source] = {}
    for where, s in _mapping_list(doc, "sources", problems):
        src = _source(s, where, ctx, sources, problems)
        if src is None:
            continue
        sources[src.id] = src
        if src.entity in PERSON_ENTITIES:
            from lnob.registry import dbt_files

            try:
                dbt_files.person_mapping(src)
            except ValueError as exc:
                problems.append(f"{where}.harmonise: {exc}")
    return sources


def _source(
    s: dict, where: str, ctx: _SourceContext, sources: dict[str, Source], problems: list[str]
) -> Source | None:
    """One source, or ``None`` when it has a problem (or no id); ``sources``: those before it."""
    before = len(problems)
    _unknown_keys(s, _KEYS["source"], where, problems)
    _check_sdmx_fields(s, where, problems)
    sid = _require(s, "id", where, problems)
    if sid and not _NAME.match(sid):
        problems.append(
            f"{where}.id: {sid!r} must be lower-case letters, digits and _ (it names the raw table)"
        )
    if sid in sources:
        problems.append(f"{where}.id: duplicate source id {sid!r}")
    pid = _require(s, "partner", where, problems)
    partner = ctx.partners.get(pid) if pid else None
    if pid and partner is None:
        problems.append(f"{where}.partner: {pid!r} is not a registered partner")
    stype = _require(s, "type", where, problems)
    if stype:
        _one_of(stype, SOURCE_TYPES, f"{where}.type", problems)
    entity = s.get("entity", "person")
    _one_of(entity, ENTITIES, f"{where}.entity", problems)
    cadence = s.get("cadence", "daily")
    _one_of(cadence, CADENCES, f"{where}.cadence", problems)
    policy = s.get("gate_policy", "quarantine")
    _one_of(policy, GATE_POLICIES, f"{where}.gate_policy", problems)
    if stype in API_TYPES and not s.get("connection"):
        problems.append(
            f"{where}.connection: missing (required for a {stype} source: the "
            "Airflow connection holding its URL and credentials)"
        )
    _require(s, "file_pattern", where, problems)
    fmt = _check_format(s.get("format"), stype, f"{where}.format", problems)

    country = partner.country if partner else None
    maps, own = _source_code_maps(s, where, ctx, problems)
    declared = _declared_fields(s, stype, where, problems)
    fields, used_maps = _fields(declared, where, maps, ctx.countries.get(country or ""), problems)
    description = s.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: expected text, found {type(description).__name__}")
    harmonise = _harmonise(s.get("harmonise"), entity, fields, f"{where}.harmonise", problems)
    source_vocabulary, source_series = _open_sdg_parts(
        s, stype, where, ctx.shared_vocabulary, set(ctx.groups), ctx.codelists, ctx.known_series, problems
    )
    if not sid or len(problems) != before:
        return None
    return Source(
        id=sid,
        partner=pid,
        type=stype,
        entity=entity,
        cadence=cadence,
        file_pattern=s["file_pattern"],
        format=dict(fmt),
        gate_policy=policy,
        fields=tuple(fields),
        codes={k: v for k, v in maps.items() if k in used_maps or k in own},
        connection=s.get("connection"),
        country=country,
        description=" ".join(str(description or "").split()),
        harmonise=harmonise,
        vocabulary=source_vocabulary,
        series=source_series,
    )


def _source_code_maps(
    s: dict, where: str, ctx: _SourceContext, problems: list[str]
) -> tuple[dict[str, CodeMap], set[str]]:
    """The code maps a source's fields may use (the shared ones and its own ``codes``), and the
    names of its own."""
    maps: dict[str, CodeMap] = dict(ctx.shared_maps)
    raw_codes = s.get("codes") or {}
    if not isinstance(raw_codes, dict):
        problems.append(f"{where}.codes: expected a mapping of map name -> {{canonical, codes}}")
        raw_codes = {}
    for name, raw in raw_codes.items():
        cmap = _code_map(raw, name, f"{where}.codes.{name}", ctx.canonical_lists, problems)
        if cmap:
            maps[name] = cmap
    return maps, set(raw_codes)


def _declared_fields(s: dict, stype: str | None, where: str, problems: list[str]) -> list:
    """A source's ``fields`` (an Open SDG source's completed with the format's own columns)."""
    if stype != "open_sdg_csv":
        return _require(s, "fields", where, problems, list) or []
    declared = s.get("fields") or []  # the format's own columns need no declaration
    if not isinstance(declared, list):
        problems.append(f"{where}.fields: expected a list, found {type(declared).__name__}")
        declared = []
    return _with_open_sdg_fields(declared)


def _fields(
    declared: list, where: str, maps: dict[str, CodeMap], country: Country | None, problems: list[str]
) -> tuple[list[Field], set[str]]:
    """A source's fields, and the names of the code maps they use (``maps`` gains ``admin1``
    when a field asks for it)."""
    fields: list[Field] = []
    seen: set[str] = set()
    used_maps: set[str] = set()
    for j, f in enumerate(declared):
        fwhere = f"{where}.fields[{j}]"
        if not isinstance(f, dict):
            problems.append(f"{fwhere}: expected a mapping with name and type, found {f!r}")
            continue
        parsed = _field(f, fwhere, seen, maps, country, problems)
        if f.get("codes"):
            used_maps.add(f["codes"])
        if parsed is not None:
            seen.add(parsed.name)
            fields.append(parsed)
    return fields, used_maps


def _field(
    f: dict,
    where: str,
    seen: set[str],
    maps: dict[str, CodeMap],
    country: Country | None,
    problems: list[str],
) -> Field | None:
    """One field of a source, or ``None`` without a valid name and type."""
    _unknown_keys(f, _KEYS["field"], where, problems)
    name = _require(f, "name", where, problems)
    ftype = _require(f, "type", where, problems)
    if ftype and not _one_of(ftype, FIELD_TYPES, f"{where}.type", problems):
        ftype = None
    if name and not _NAME.match(name):
        problems.append(
            f"{where}.name: {name!r} must be lower-case letters, digits and _ (it names a raw column)"
        )
    if name in seen:
        problems.append(f"{where}.name: duplicate field {name!r}")
    for flag in ("required", "identifier", "pseudonymise", "free_text", "multiple"):
        if flag in f and not isinstance(f[flag], bool):
            problems.append(f"{where}.{flag}: expected true or false, found {f[flag]!r}")
    if f.get("identifier") and f.get("required"):
        problems.append(f"{where}: an identifier field cannot be required (nothing may depend on it)")
    code_map = f.get("codes")
    if f.get("multiple") and (not code_map or ftype != "text"):
        problems.append(
            f"{where}.multiple: a set of choices needs `type: text` and `codes` "
            "(each choice is recoded through the code map)"
        )
    _check_field_codes(code_map, where, maps, country, problems)
    if not (name and ftype):
        return None
    return Field(
        name=name,
        type=ftype,
        source_name=str(f.get("source") or ""),
        required=bool(f.get("required")),
        identifier=bool(f.get("identifier")),
        pseudonymise=bool(f.get("pseudonymise")),
        free_text=bool(f.get("free_text")),
        codes=code_map,
        multiple=bool(f.get("multiple")),
    )


def _check_field_codes(
    code_map: Any, where: str, maps: dict[str, CodeMap], country: Country | None, problems: list[str]
) -> None:
    """A field's ``codes`` names a code map of its source or ``admin1`` (built here into ``maps``
    from the partner's country's areas)."""
    if code_map == "admin1":
        if country is None or not country.areas:
            problems.append(f"{where}.codes: 'admin1' needs the partner's country to list its areas")
        else:
            maps["admin1"] = _admin1_map(country)
    elif code_map and code_map not in maps:
        problems.append(
            f"{where}.codes: {code_map!r} is not a code map of this source or of "
            f"code_maps ({', '.join(sorted(maps))})"
        )


def write_dbt_files(reg: Registry, dbt_project_dir: Path) -> list[Path]:
    """Write everything the registry owns in the dbt project where it changed: the seeds, the
    staging model of every source, the raw sources' yml and the lists the intermediate layer
    unions (lnob.registry.dbt_files); remove what a source no longer registered left behind."""
    from lnob.registry import dbt_files

    return write_seeds(reg, dbt_project_dir) + dbt_files.write(reg, dbt_project_dir)


def _regions(raw: Any, where: str, area_codes: set[str], problems: list[str]) -> tuple[Area, ...]:
    """A country's ``regions``: areas that are not first-level (a city region, a group of
    provinces) that official platforms publish. Their codes join the LNOB extension of CL_AREA
    (seed ``lnob_areas``), so the REF_AREA checks accept them; community data never maps to them."""
    out: list[Area] = []
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}.regions: expected a list of {{code, name, kind, aliases}}")
        return ()
    for j, r in enumerate(raw):
        rwhere = f"{where}.regions[{j}]"
        _unknown_keys(r, _KEYS["region"], rwhere, problems)
        code, name = _require(r, "code", rwhere, problems), _require(r, "name", rwhere, problems)
        kind = r.get("kind") if isinstance(r, dict) else None
        if kind not in ("city_region", "area_group"):
            problems.append(f"{rwhere}.kind: {kind!r} is not one of ['area_group', 'city_region']")
        if code and not re.fullmatch(r"[A-Z]{2}_[A-Z0-9_]{2,20}", code):
            problems.append(
                f"{rwhere}.code: {code!r} must be the country's ISO alpha-2 code, '_' and a name "
                "in capitals (e.g. CA_CMA535): it must not collide with ISO 3166-2 codes"
            )
        area = _new_area(r, code, name, rwhere, area_codes, problems)
        if area is not None:
            out.append(area)
    return tuple(out)


#: The columns of the Open SDG data format that are not disaggregations: a source need not
#: declare them (it may, to rename or retype one); every other column is read through the vocabulary.
OPEN_SDG_FIELDS = (
    {"name": "year", "source": "Year", "type": "text", "required": True},
    {"name": "series", "source": "Series", "type": "text"},
    {"name": "units", "source": "Units", "type": "text", "codes": "units"},
    {"name": "geo_code", "source": "GeoCode", "type": "text"},
    {"name": "value", "source": "Value", "type": "numeric"},
)


def _with_open_sdg_fields(declared: list) -> list:
    names = {f.get("name") for f in declared if isinstance(f, dict)}
    return [*declared, *(dict(f) for f in OPEN_SDG_FIELDS if f["name"] not in names)]


def _open_sdg_parts(
    s: dict,
    stype: str | None,
    where: str,
    shared: list,
    groups: set[str],
    codelists: dict[str, set[str]],
    known_series: set[str],
    problems: list[str],
) -> tuple[tuple, dict]:
    """An Open SDG source's vocabulary (the shared one, extended by its own) and series rules."""
    if stype != "open_sdg_csv":
        for key in ("vocabulary", "series"):
            if key in s:
                problems.append(f"{where}.{key}: only an open_sdg_csv source has a {key}")
        return (), {}
    own = vocab.parse_columns(s.get("vocabulary"), f"{where}.vocabulary", groups, codelists, problems)
    columns = vocab.extend(shared, own)
    if not columns:
        problems.append(
            f"{where}.vocabulary: an open_sdg_csv source needs a vocabulary (the top-level "
            "`vocabulary` or its own) to read its disaggregation columns"
        )
    fields = {
        str(f.get("source") or f.get("name", "")).casefold()
        for f in s.get("fields") or []
        if isinstance(f, dict)
    }
    for c in columns:
        clash = [label for label in c.labels if label.casefold() in fields]
        if clash:
            problems.append(
                f"{where}.fields: {clash[0]!r} is a column of the vocabulary ({c.dimension}); "
                "declare it in one place only"
            )
    series = vocab.parse_series(s.get("series"), f"{where}.series", known_series, columns, problems)
    return columns, series


def write_seeds(reg: Registry, dbt_project_dir: Path) -> list[Path]:
    """Write the dbt seeds the registry owns (code maps, custom breakdowns, national series ...)
    where they changed."""
    folder = Path(dbt_project_dir) / "seeds" / "lnob"
    written = []
    for name, text in (
        ("partner_code_map.csv", reg.code_map_csv()),
        ("lnob_custom_breakdowns.csv", reg.custom_breakdowns_csv()),
        ("lnob_countries.csv", reg.countries_csv()),
        ("lnob_areas.csv", reg.areas_csv()),
        ("lnob_partners.csv", reg.partners_csv()),
        ("lnob_sources.csv", reg.sources_csv()),
        ("lnob_national_series.csv", reg.national_series_csv()),
    ):
        path = folder / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written
