"""The partner and source registry: who delivers what, in which shape, under which contract.

The registry is YAML (``registry.yml`` beside this file, or ``LNOB_REGISTRY``). It is validated as
a whole before anything runs; every problem is reported with the file and the key path
(``sources[0].fields[3].type``) so a data engineer can fix it without reading code.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lnob.config import settings

SOURCE_TYPES = {"file_drop", "kobotoolbox", "odk_central", "unsd_sdg_api", "sdmx_ml", "open_sdg_csv"}
FIELD_TYPES = {"text": "text", "integer": "bigint", "numeric": "double precision", "date": "date",
               "boolean": "boolean", "timestamp": "timestamptz"}
FILE_KINDS = {"csv"}
GATE_POLICIES = {"block", "quarantine"}
CADENCES = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}


class RegistryError(ValueError):
    """The registry is invalid. ``problems`` lists each one as ``file: key.path: message``."""

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
    required: bool = False
    identifier: bool = False
    pseudonymise: bool = False

    @property
    def sql_type(self) -> str:
        return FIELD_TYPES[self.type]


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
    codes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def raw_table(self) -> str:
        return self.id


@dataclass(frozen=True)
class Registry:
    path: Path
    countries: dict[str, dict[str, Any]]
    partners: dict[str, dict[str, Any]]
    sources: dict[str, Source]

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
        """The partner code maps as the CSV of the ``partner_code_map`` dbt seed."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["source_id", "code_list", "partner_code", "canonical_code"])
        for src in sorted(self.sources.values(), key=lambda s: s.id):
            for code_list in sorted(src.codes):
                for partner_code, canonical in sorted(src.codes[code_list].items()):
                    writer.writerow([src.id, code_list, partner_code.strip().lower(), canonical])
        return buf.getvalue()


def _require(obj: Any, key: str, where: str, problems: list[str], kind: type = str) -> Any:
    if not isinstance(obj, dict) or key not in obj or obj[key] in (None, ""):
        problems.append(f"{where}.{key}: missing (required)")
        return None
    if not isinstance(obj[key], kind):
        problems.append(f"{where}.{key}: expected {kind.__name__}, found {type(obj[key]).__name__}")
        return None
    return obj[key]


def load(path: Path | None = None) -> Registry:
    """Load and validate the registry; raise :class:`RegistryError` naming every problem."""
    path = Path(path or settings().registry_path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(path, ["file not found"]) from None
    except yaml.YAMLError as exc:
        raise RegistryError(path, [f"not valid YAML: {exc}"]) from None
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise RegistryError(path, ["top level must be a mapping with countries, partners, sources"])

    countries: dict[str, dict] = {}
    for i, c in enumerate(doc.get("countries") or []):
        iso3 = _require(c, "iso3", f"countries[{i}]", problems)
        if iso3:
            countries[iso3] = c
    partners: dict[str, dict] = {}
    for i, p in enumerate(doc.get("partners") or []):
        where = f"partners[{i}]"
        pid = _require(p, "id", where, problems)
        _require(p, "name", where, problems)
        country = _require(p, "country", where, problems)
        if country and country not in countries:
            problems.append(f"{where}.country: {country!r} is not in countries")
        if pid in partners:
            problems.append(f"{where}.id: duplicate partner id {pid!r}")
        if pid:
            partners[pid] = p

    sources: dict[str, Source] = {}
    for i, s in enumerate(doc.get("sources") or []):
        where = f"sources[{i}]"
        sid = _require(s, "id", where, problems)
        partner = _require(s, "partner", where, problems)
        if partner and partner not in partners:
            problems.append(f"{where}.partner: {partner!r} is not a registered partner")
        stype = _require(s, "type", where, problems)
        if stype and stype not in SOURCE_TYPES:
            problems.append(f"{where}.type: {stype!r} is not one of {sorted(SOURCE_TYPES)}")
        cadence = s.get("cadence", "daily") if isinstance(s, dict) else "daily"
        if cadence not in CADENCES:
            problems.append(f"{where}.cadence: {cadence!r} is not one of {sorted(CADENCES)}")
        policy = s.get("gate_policy", "quarantine") if isinstance(s, dict) else "quarantine"
        if policy not in GATE_POLICIES:
            problems.append(f"{where}.gate_policy: {policy!r} is not one of {sorted(GATE_POLICIES)}")
        fmt = s.get("format") or {} if isinstance(s, dict) else {}
        if stype == "file_drop":
            kind = fmt.get("kind")
            if kind not in FILE_KINDS:
                problems.append(f"{where}.format.kind: {kind!r} is not one of {sorted(FILE_KINDS)}")
            _require(s, "file_pattern", where, problems)
        fields: list[Field] = []
        raw_fields = _require(s, "fields", where, problems, list) or []
        seen: set[str] = set()
        for j, f in enumerate(raw_fields):
            fwhere = f"{where}.fields[{j}]"
            name = _require(f, "name", fwhere, problems)
            ftype = _require(f, "type", fwhere, problems)
            if ftype and ftype not in FIELD_TYPES:
                problems.append(f"{fwhere}.type: {ftype!r} is not one of {sorted(FIELD_TYPES)}")
                ftype = None
            if name in seen:
                problems.append(f"{fwhere}.name: duplicate field {name!r}")
            if name and not name.replace("_", "").isalnum():
                problems.append(f"{fwhere}.name: {name!r} must be letters, digits and _")
            if name and ftype:
                seen.add(name)
                fields.append(Field(name, ftype, bool(f.get("required")), bool(f.get("identifier")),
                                    bool(f.get("pseudonymise"))))
        codes = s.get("codes") or {} if isinstance(s, dict) else {}
        for code_list, mapping in codes.items():
            if not isinstance(mapping, dict):
                problems.append(f"{where}.codes.{code_list}: expected a mapping partner code -> code")
        if sid in sources:
            problems.append(f"{where}.id: duplicate source id {sid!r}")
        if sid and not problems:
            sources[sid] = Source(
                id=sid, partner=partner, type=stype, entity=s.get("entity", "person"),
                cadence=cadence, file_pattern=s.get("file_pattern", "*"), format=dict(fmt),
                gate_policy=policy, fields=tuple(fields),
                codes={k: {str(pc): str(cc) for pc, cc in v.items()} for k, v in codes.items()},
            )
    if problems:
        raise RegistryError(path, problems)
    return Registry(path=path, countries=countries, partners=partners, sources=sources)
