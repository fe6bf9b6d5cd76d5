"""Generate the dbt seeds that come from the SDG reference files, so no codelist is hand-typed.

Reads ``sdmx/IAEG-SDGs_SDG_DSD.xml`` (codelists), ``sdmx/sdg_series_constraints.csv``
(series -> indicator, unit, allowed breakdowns) and the Open SDG goal, target and indicator titles
(``open-sdg/*.en.yml``) from the reference folder, and writes CSV seeds under
``dbt_project/seeds/reference/``. Re-runnable: the output is sorted and byte-stable, and the
generated files are committed.

The reference folder is the copy vendored in the package (``lnob/transform/reference_data/``, exactly the
files read here, with their licences), so a fresh clone or an installed wheel can regenerate and
check the seeds without anything outside the repository. ``LNOB_REFERENCE_DIR`` points it at
another copy (e.g. the team's ``../shared/reference``) to regenerate from newer upstream files.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from lnob.platform.config import settings

NS = {
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
}


VENDORED_DIR = Path(__file__).resolve().parent / "reference_data"

# The files write_seeds reads, relative to the reference folder: what is vendored, and all of it.
INPUT_FILES = (
    "sdmx/IAEG-SDGs_SDG_DSD.xml",
    "sdmx/sdg_series_constraints.csv",
    "open-sdg/global_goals.en.yml",
    "open-sdg/global_targets.en.yml",
    "open-sdg/global_indicators.en.yml",
)


def reference_dir() -> Path:
    """``LNOB_REFERENCE_DIR`` if set, else the copy vendored in the package."""
    env = os.environ.get("LNOB_REFERENCE_DIR")
    if env:
        return Path(env)
    return VENDORED_DIR


def codelist_rows(dsd: Path) -> list[tuple[str, str, str]]:
    root = ET.parse(dsd).getroot()
    rows = []
    for cl in root.iter(f"{{{NS['str']}}}Codelist"):
        for code in cl.findall("str:Code", NS):
            name = None
            for n in code.findall("com:Name", NS):
                if n.get("{http://www.w3.org/XML/1998/namespace}lang") in (None, "en"):
                    name = n.text
                    break
            first_name = code.find("com:Name", NS)
            if name is None and first_name is not None:
                name = first_name.text
            rows.append((cl.get("id", ""), code.get("id", ""), (name or "").strip()))
    return sorted(rows)


def series_rows(constraints: Path) -> list[tuple[str, str, str, str, str]]:
    rows = []
    with constraints.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            m = re.search(r"\[([0-9a-z., ]+)\]\s*$", rec["Name"])
            indicators = m.group(1).replace(" ", "") if m else ""
            name = re.sub(r"\s*\[[^\]]*\]\s*$", "", rec["Name"]).strip()
            rows.append((rec["SERIES"], name, indicators, rec["UNIT_MEASURE"], rec["UNIT_MULT"]))
    return sorted(rows)


BREAKDOWN_COLUMNS = [
    "SEX",
    "AGE",
    "URBANISATION",
    "COMPOSITE_BREAKDOWN",
    "EDUCATION_LEV",
    "DISABILITY_STATUS",
    "OCCUPATION",
    "INCOME_WEALTH_QUANTILE",
    "PRODUCT",
    "ACTIVITY",
]


def breakdown_rows(constraints: Path) -> list[tuple[str, str, str]]:
    """(series, dimension, allowed code) for each series; ``ALL`` means any code of the codelist."""
    rows = set()
    with constraints.open(encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            for dim in BREAKDOWN_COLUMNS:
                for code in (rec.get(dim) or "").split(";"):
                    if code.strip():
                        rows.add((rec["SERIES"], dim, code.strip()))
    return sorted(rows)


def _titles(path: Path) -> dict[str, str]:
    """``1-2-1-title: ...`` -> {'1.2.1': '...'} (Open SDG translation files)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        k[: -len("-title")].replace("-", "."): " ".join(str(v).split())
        for k, v in doc.items()
        if k.endswith("-title")
    }


def _code_key(code: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 1000 + ord(p[0]) for p in code.split("."))


def framework_rows(ref: Path) -> dict[str, list[tuple]]:
    goals = _titles(ref / "open-sdg" / "global_goals.en.yml")
    shorts = {
        k[: -len("-short")]: v
        for k, v in (
            yaml.safe_load((ref / "open-sdg" / "global_goals.en.yml").read_text(encoding="utf-8")) or {}
        ).items()
        if k.endswith("-short")
    }
    targets = _titles(ref / "open-sdg" / "global_targets.en.yml")
    indicators = _titles(ref / "open-sdg" / "global_indicators.en.yml")
    return {
        "sdg_goals": [(g, shorts.get(g, ""), goals[g]) for g in sorted(goals, key=_code_key)],
        "sdg_targets": [(t, t.split(".")[0], targets[t]) for t in sorted(targets, key=_code_key)],
        "sdg_indicators": [
            (i, ".".join(i.split(".")[:2]), i.split(".")[0], indicators[i])
            for i in sorted(indicators, key=_code_key)
        ],
    }


FRAMEWORK_HEADERS = {
    "sdg_goals": ["goal_code", "goal_short", "goal_title"],
    "sdg_targets": ["target_code", "goal_code", "target_title"],
    "sdg_indicators": ["indicator_code", "target_code", "goal_code", "indicator_title"],
}


def _write_csv(path: Path, header: list[str], rows) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def write_seeds(out: Path | None = None, ref: Path | None = None) -> list[Path]:
    ref = ref or reference_dir()
    out = out or settings().dbt_project_dir / "seeds" / "reference"
    out.mkdir(parents=True, exist_ok=True)
    constraints = ref / "sdmx" / "sdg_series_constraints.csv"
    written = [
        _write_csv(
            out / "sdmx_codes.csv",
            ["codelist_id", "code", "name"],
            codelist_rows(ref / "sdmx" / "IAEG-SDGs_SDG_DSD.xml"),
        ),
        _write_csv(
            out / "sdg_series.csv",
            ["series_code", "series_name", "indicators", "unit_measure", "unit_mult"],
            series_rows(constraints),
        ),
        _write_csv(
            out / "sdg_series_breakdowns.csv",
            ["series_code", "dimension", "allowed_code"],
            breakdown_rows(constraints),
        ),
    ]
    for name, rows in framework_rows(ref).items():
        written.append(_write_csv(out / f"{name}.csv", FRAMEWORK_HEADERS[name], rows))
    return written
