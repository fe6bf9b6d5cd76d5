"""The dbt files the registry owns: one staging model per source, the raw sources' yml, the staged
models' properties, and the lists of staged models that the intermediate layer unions.

A source is declared once, in the registry. Its staging model is one call of the shape's macro
(`stage_persons`, `stage_testimonies`, `stage_open_sdg_observations`, `stage_sdmx_observations`,
`stage_unsd_observations`) with the source's id and, for persons, which field makes which
harmonised column where it differs from the macro's defaults (`person_defaults()`). The files are
written before every dbt run (``lnob.pipeline.prepare_transform``) and by ``lnob registry
generate``; they are committed so that a reviewer reads them like code, and
``tests/test_registry_generated.py`` fails when the committed files drift from the registry.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from lnob.registry import Registry, Source

#: First line of every generated file: the writer replaces or removes only files that carry it.
MARKER = "generated from the registry by `lnob registry generate`: edit registry.yml, not this file"

#: Staging folder, model suffix and macro of each entity.
SHAPES = {
    "person": ("community", "persons"),
    "household_member": ("community", "household_members"),
    "testimony": ("voices", "testimonies"),
    "observation": ("official", "observations"),
}
#: The staging macro of each official source type.
OFFICIAL_MACROS = {
    "open_sdg_csv": "stage_open_sdg_observations",
    "sdmx_ml": "stage_sdmx_observations",
    "unsd_sdg_api": "stage_unsd_observations",
}
#: Which staged models each intermediate union reads (``staged_models(kind)`` in dbt).
UNIONS = {
    "persons": ("person", "household_member"),
    "testimonies": ("testimony",),
    "observations": ("observation",),
}
#: Columns `stage_persons` fills itself from the raw row's lineage.
PERSON_LINEAGE = {
    "delivery_id",
    "row_number",
    "partner_id",
    "source_id",
    "country_iso3",
    "delivery_date",
    "loaded_at",
    "staging_version",
    "staged_at",
}

_DBT = Path(__file__).resolve().parents[3] / "dbt_project"


def person_columns(dbt_project_dir: Path | None = None) -> list[str]:
    """The harmonised person columns, read from their one owner: `person_columns()` in the
    `stage_persons` macro."""
    text = ((dbt_project_dir or _DBT) / "macros" / "staging" / "stage_persons.sql").read_text()
    body = text.split("macro person_columns()", 1)[1].split("endmacro", 1)[0]
    return re.findall(r"\('([a-z0-9_]+)',\s*'[a-z ]+'\)", body)


def person_defaults(dbt_project_dir: Path | None = None) -> dict[str, str]:
    """Harmonised column -> the Jinja expression `stage_persons` uses when a source gives none, read
    from their one owner: `person_defaults()` in the `stage_persons` macro."""
    text = ((dbt_project_dir or _DBT) / "macros" / "staging" / "stage_persons.sql").read_text()
    body = text.split("macro person_defaults()", 1)[1].split("endmacro", 1)[0]
    return dict(re.findall(r"^\s*'([a-z0-9_]+)': (.+?),?$", body, flags=re.M))


def person_declared(src: Source, dbt_project_dir: Path | None = None) -> dict[str, str]:
    """What a person source's staging model says: its mapping (`person_mapping`) less what
    `stage_persons` fills by default (`record_key` defaults to `person_pid`); a default column the
    source does not have is `none`."""
    mapping = person_mapping(src, dbt_project_dir)
    defaults = person_defaults(dbt_project_dir)
    defaults["record_key"] = mapping.get("person_pid", defaults["person_pid"])
    out: dict[str, str] = {}
    for column in person_columns(dbt_project_dir):
        if column in mapping and mapping[column] != defaults.get(column):
            out[column] = mapping[column]
        elif column not in mapping and column in defaults:
            out[column] = "none"
    return out


def model_name(src: Source) -> str:
    return f"stg_{src.id}__{SHAPES[src.entity][1]}"


def _has_macro(name: str, dbt_project_dir: Path | None = None) -> bool:
    folder = (dbt_project_dir or _DBT) / "macros"
    return any(f"macro {name}(" in p.read_text(encoding="utf-8") for p in folder.rglob("*.sql"))


def staged(reg: Registry, dbt_project_dir: Path | None = None) -> list[Source]:
    """The sources that have a staging model, in registry order."""
    return [
        s
        for s in reg.sources.values()
        if s.entity in SHAPES
        and (s.entity != "observation" or _has_macro(OFFICIAL_MACROS.get(s.type, "-"), dbt_project_dir))
    ]


def _q(text: str) -> str:
    return "'" + text + "'"


def person_mapping(src: Source, dbt_project_dir: Path | None = None) -> dict[str, str]:
    """Harmonised column -> the Jinja expression `stage_persons` takes: a pseudonym of one or more
    fields, a (field, code map) pair for a coded field, a field, or a constant weight."""
    fields = {f.name: f for f in src.fields}
    given = dict(src.harmonise)
    defaults = {
        "person_pid": ["person_id"],
        "household_pid": ["household_id"],
        "record_version": "_loaded_at",
        "area_code": "admin1",
    }
    given.setdefault("person_pid", defaults["person_pid"])
    # a source with no household id: each person is a household of their own
    given.setdefault(
        "household_pid", defaults["household_pid"] if "household_id" in fields else given["person_pid"]
    )
    given.setdefault("record_key", ["record_key"] if "record_key" in fields else given["person_pid"])
    given.setdefault("record_version", defaults["record_version"])
    if "admin1" in fields:
        given.setdefault("area_code", "admin1")
    given.setdefault("survey_weight", "weight" if "weight" in fields else 1.0)
    out: dict[str, str] = {}
    for column in person_columns(dbt_project_dir):
        if column in PERSON_LINEAGE:
            continue
        value = given.get(column, column if column in fields else None)
        if value is None:
            continue
        if column in ("person_pid", "household_pid", "record_key"):
            missing = [n for n in value if n not in fields]
            if missing:
                raise ValueError(
                    f"source {src.id}: {column} is made of {', '.join(missing)}, which it does "
                    f"not have: name the field(s) in `harmonise: {{{column}: ...}}`"
                )
            joined = " || '/' || ".join(value)
            out[column] = f'pseudonym("{joined}")' if len(value) > 1 else f"pseudonym({_q(value[0])})"
        elif isinstance(value, float):
            out[column] = _q(repr(value))
        elif value in fields and (codes := fields[value].codes):
            out[column] = f"({_q(value)}, {_q(codes)})"
        else:
            out[column] = _q(value)
    return out


def _doc(src: Source) -> str:
    text = (
        src.description
        or f"{src.id}: {src.type.replace('_', ' ')}, one row per {src.entity.replace('_', ' ')}."
    )
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > 96:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "{#- " + "\n    ".join(lines) + " -#}"


def model_sql(reg: Registry, src: Source, dbt_project_dir: Path | None = None) -> str:
    """The staging model of one source."""
    country = src.country or reg.partners[src.partner].country or ""
    head = (
        f"-- {MARKER}\n{_doc(src)}\n"
        f"{{{{ config(materialized='incremental', pre_hook=\"{{{{ prune_deliveries('{src.id}') }}}}\") }}}}\n\n"
    )
    if src.entity in ("person", "household_member"):
        mapping = person_declared(src, dbt_project_dir)
        body = "".join(f"\n    {_q(k)}: {v}," for k, v in mapping.items())
        body = body and body + "\n"
        return head + f"{{{{ stage_persons({_q(src.id)}, {_q(country)}, {{{body}}}) }}}}\n"
    if src.entity == "testimony":
        return head + f"{{{{ stage_testimonies({_q(src.id)}, {_q(country)}) }}}}\n"
    return head + f"{{{{ {OFFICIAL_MACROS[src.type]}({_q(src.id)}) }}}}\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, text: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=">" if len(text) > 80 else None)


_Dumper.add_representer(str, _str)


def _yml(doc: dict) -> str:
    return f"# {MARKER}\n" + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def raw_sources_yml(reg: Registry) -> str:
    """The dbt source `raw`: one table per registered source; identifiers, pseudonymised fields and
    free text marked `pii` (never selected by staging, except through `pseudonym`/`scrub`)."""
    tables = []
    for src in reg.sources.values():
        partner = reg.partners[src.partner].name
        table: dict = {
            "name": src.id,
            "description": f"{partner}: {src.type.replace('_', ' ')}, one row per "
            f"{src.entity.replace('_', ' ')}.",
        }
        pii = []
        for f in src.fields:
            if f.identifier or f.pseudonymise or f.free_text:
                what = (
                    "direct identifier, never selected"
                    if f.identifier
                    else "pseudonymised in staging"
                    if f.pseudonymise
                    else "free text, scrubbed before publication"
                )
                pii.append({"name": f.name, "description": what, "meta": {"pii": True}})
        if pii:
            table["columns"] = pii
        tables.append(table)
    return _yml(
        {
            "version": 2,
            "sources": [
                {
                    "name": "raw",
                    "description": (
                        "Raw deliveries as loaded by `lnob load`: one unindexed table per registered source "
                        "(named by the source id), every row with its lineage (_delivery_id, _partner_id, "
                        "_source_id, _file_name, _row_number, _file_sha256, _delivery_date, _overflow, "
                        "_superseded_by, _loaded_at). Identifiers live here and nowhere downstream; columns "
                        "marked `pii` are never selected by staging."
                    ),
                    "schema": "raw",
                    "tables": tables,
                }
            ],
        }
    )


_TESTED = {
    "community": [
        ("person_pid", "Keyed hash of partner and respondent (or household and member number).", True),
        ("household_pid", "Keyed hash of partner and household id.", True),
        (
            "record_key",
            "Keyed hash of the record's stable key across versions (submission id and member, or person).",
            True,
        ),
        ("delivery_id", "The delivery (lnob_meta.delivery_ledger) the row came in.", True),
        (
            "staging_version",
            "Code-map and key fingerprint the row was staged under; a change restages the source.",
            True,
        ),
        ("age", "Age in completed years.", True),
    ],
    "official": [
        ("delivery_id", "The delivery (lnob_meta.delivery_ledger) the row came in.", True),
        ("series", "SDG series code.", True),
        ("ref_area", "UN M49 code of the country, or ISO 3166-2 code of a first-level area.", True),
        ("time_period", "Period of the observation (YYYY, YYYY-Qn, YYYY-MM).", True),
        ("obs_status", "SDMX OBS_STATUS (A normal; O, M, ... where the value is missing).", True),
        ("unit_measure", "SDMX UNIT_MEASURE.", True),
        (
            "staging_version",
            "Code-map and key fingerprint the row was staged under; a change restages the source.",
            True,
        ),
    ],
}


def models_yml(reg: Registry, folder: str, dbt_project_dir: Path | None = None) -> str | None:
    """Properties of the generated staging models of one folder (community, official). The voices
    models keep their hand-written properties (per-column accepted values)."""
    models = []
    for src in staged(reg, dbt_project_dir):
        if SHAPES[src.entity][0] != folder:
            continue
        name = model_name(src)
        models.append(
            {
                "name": name,
                "description": src.description
                or f"{reg.partners[src.partner].name}: staged {SHAPES[src.entity][1]}.",
                # one test and one scan for every column that must be set (a failing row names its
                # column), as the marts' contracts are tested (ADR 0008)
                "data_tests": [
                    {
                        "not_null_columns": {
                            "name": f"not_null_{name}",
                            "arguments": {"columns": [n for n, _, _ in _TESTED[folder]]},
                        }
                    }
                ],
                "columns": [{"name": n, "description": d} for n, d, _ in _TESTED[folder]],
            }
        )
    return _yml({"version": 2, "models": models}) if models else None


def staged_models_macro(reg: Registry, dbt_project_dir: Path | None = None) -> str:
    """`staged_models(kind)`: the staging models the intermediate layer unions, per kind."""
    lists = {
        kind: [model_name(s) for s in staged(reg, dbt_project_dir) if s.entity in entities]
        for kind, entities in UNIONS.items()
    }
    lines = [
        f"{{#- {MARKER} -#}}",
        "{#- The staged models of every registered source, by kind (persons, testimonies,",
        "    observations): what int_persons_unioned, int_testimonies and int_official_observations",
        "    union. -#}",
        "{% macro staged_models(kind) -%}",
        "    {%- set models = {",
    ]
    for kind, names in lists.items():
        lines.append(f"        {_q(kind)}: [{', '.join(_q(n) for n in names)}],")
    lines += [
        "    } -%}",
        "    {%- if kind not in models -%}",
        '        {{ exceptions.raise_compiler_error("staged_models: unknown kind \'" ~ kind ~ "\'") }}',
        "    {%- endif -%}",
        "    {{ return(models[kind]) }}",
        "{%- endmacro %}",
        "",
    ]
    return "\n".join(lines)


def files(reg: Registry, dbt_project_dir: Path) -> dict[Path, str]:
    """Every file the registry owns in the dbt project, by path."""
    root = Path(dbt_project_dir)
    out = {
        root / "models" / "staging" / "_raw__sources.yml": raw_sources_yml(reg),
        root / "macros" / "generated" / "staged_models.sql": staged_models_macro(reg, root),
    }
    for src in staged(reg, root):
        folder = SHAPES[src.entity][0]
        out[root / "models" / "staging" / folder / f"{model_name(src)}.sql"] = model_sql(reg, src, root)
    for folder in _TESTED:
        text = models_yml(reg, folder, root)
        if text:
            out[root / "models" / "staging" / folder / f"_{folder}__models.yml"] = text
    return out


def _generated_on_disk(root: Path) -> list[Path]:
    found = []
    for path in [*(root / "models" / "staging").rglob("*"), *(root / "macros" / "generated").rglob("*")]:
        if path.is_file() and path.suffix in (".sql", ".yml"):
            with path.open(encoding="utf-8") as fh:
                if MARKER in fh.readline():
                    found.append(path)
    return found


def drift(reg: Registry, dbt_project_dir: Path) -> list[str]:
    """What differs between the registry and the dbt project: each file to write or remove."""
    want = files(reg, dbt_project_dir)
    out = [
        f"{p}: {'differs' if p.exists() else 'missing'}"
        for p, text in want.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    out += [
        f"{p}: no longer in the registry" for p in _generated_on_disk(Path(dbt_project_dir)) if p not in want
    ]
    return out


def write(reg: Registry, dbt_project_dir: Path) -> list[Path]:
    """Write what changed and remove generated files of sources no longer registered."""
    want = files(reg, dbt_project_dir)
    changed = []
    for path, text in want.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in _generated_on_disk(Path(dbt_project_dir)):
        if path not in want:
            path.unlink()
            changed.append(path)
    return changed
