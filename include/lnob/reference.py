"""Generate the dbt seeds that come from the SDG reference files, so no codelist is hand-typed.

Reads ``shared/reference/sdmx/IAEG-SDGs_SDG_DSD.xml`` (codelists) and
``sdg_series_constraints.csv`` (series -> unit), and writes CSV seeds under
``dbt_project/seeds/reference/``. Re-runnable: the output is sorted and byte-stable, and the
generated files are committed so a fresh clone needs nothing outside the repository.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from lnob.config import settings

NS = {
    "str": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure",
    "com": "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common",
}


def reference_dir() -> Path:
    env = os.environ.get("LNOB_REFERENCE_DIR")
    if env:
        return Path(env)
    return settings().project_dir.parent / "shared" / "reference"


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
            if name is None and code.find("com:Name", NS) is not None:
                name = code.find("com:Name", NS).text
            rows.append((cl.get("id"), code.get("id"), (name or "").strip()))
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


def write_seeds(out: Path | None = None, ref: Path | None = None) -> list[Path]:
    ref = ref or reference_dir()
    out = out or settings().dbt_project_dir / "seeds" / "reference"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / "sdmx_codes.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["codelist_id", "code", "name"])
        w.writerows(codelist_rows(ref / "sdmx" / "IAEG-SDGs_SDG_DSD.xml"))
    written.append(path)
    path = out / "sdg_series.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["series_code", "series_name", "indicators", "unit_measure", "unit_mult"])
        w.writerows(series_rows(ref / "sdmx" / "sdg_series_constraints.csv"))
    written.append(path)
    return written
