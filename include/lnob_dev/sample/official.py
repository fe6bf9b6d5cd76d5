"""Official comparators: what the UN SDG Global Database API, a national statistics office's
SDMX-ML file and a national Open SDG platform publish.

As in reality, the global database has national totals only (no disability, caste, ethnicity or
refugee breakdown): that absence is the knowledge gap the LNOB gap mart flags. The official files
depend on the seed and the year only, so a nightly re-fetch of unchanged official data yields the
same bytes and is skipped as a duplicate delivery.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import date
from pathlib import Path

from lnob_dev.sample.files import atomic

UNSD_SERVER = "https://unstats.un.org/sdgapi"
M49 = {"BGD": "50", "IND": "356", "KEN": "404", "NPL": "524", "VNM": "704"}
COUNTRY_NAMES = {"BGD": "Bangladesh", "IND": "India", "KEN": "Kenya", "NPL": "Nepal", "VNM": "Viet Nam"}
SERIES = {  # code: (goal, target, indicator, description, units, age code)
    "SH_XPD_EARN10": (
        "3",
        "3.8",
        "3.8.2",
        "Proportion of population with large household expenditures on health "
        "(greater than 10%) as a share of total household expenditure or income (%)",
        "PERCENT",
        "ALLAGE",
    ),
    "SH_XPD_EARN25": (
        "3",
        "3.8",
        "3.8.2",
        "Proportion of population with large household expenditures on health "
        "(greater than 25%) as a share of total household expenditure or income (%)",
        "PERCENT",
        "ALLAGE",
    ),
    "SH_ACS_UNHC": (
        "3",
        "3.8",
        "3.8.1",
        "Universal health coverage (UHC) service coverage index",
        "INDEX",
        "ALLAGE",
    ),
    "SI_POV_DAY1": (
        "1",
        "1.1",
        "1.1.1",
        "Proportion of population below international poverty line (%)",
        "PERCENT",
        "ALLAGE",
    ),
    "SI_POV_NAHC": (
        "1",
        "1.2",
        "1.2.1",
        "Proportion of population living below the national poverty line (%)",
        "PERCENT",
        "ALLAGE",
    ),
    "SG_REG_BRTH": (
        "16",
        "16.9",
        "16.9.1",
        "Proportion of children under 5 years of age whose births have been "
        "registered with a civil authority (%)",
        "PERCENT",
        "<5Y",
    ),
    "SH_H2O_SAFE": (
        "6",
        "6.1",
        "6.1.1",
        "Proportion of population using safely managed drinking water services (%)",
        "PERCENT",
        "ALLAGE",
    ),
    "VC_VOV_GDSD": (
        "10",
        "10.3",
        "10.3.1",
        "Proportion of population reporting having felt discriminated against (%)",
        "PERCENT",
        "ALLAGE",
    ),
}
#: Rough national levels the synthetic series move around (not real statistics).
LEVEL = {
    "SH_XPD_EARN10": {"BGD": 24.0, "IND": 17.0, "KEN": 6.0, "NPL": 11.0, "VNM": 10.0},
    "SH_XPD_EARN25": {"BGD": 7.0, "IND": 4.0, "KEN": 1.5, "NPL": 2.5, "VNM": 2.0},
    "SH_ACS_UNHC": {"BGD": 52.0, "IND": 63.0, "KEN": 53.0, "NPL": 54.0, "VNM": 68.0},
    "SI_POV_DAY1": {"BGD": 9.0, "IND": 12.0, "KEN": 35.0, "NPL": 8.0, "VNM": 1.5},
    "SI_POV_NAHC": {"BGD": 19.0, "IND": 21.0, "KEN": 36.0, "NPL": 20.0, "VNM": 5.0},
    "SG_REG_BRTH": {"BGD": 56.0, "IND": 89.0, "KEN": 76.0, "NPL": 77.0, "VNM": 94.0},
    "SH_H2O_SAFE": {"BGD": 59.0, "IND": 65.0, "KEN": 62.0, "NPL": 25.0, "VNM": 58.0},
    "VC_VOV_GDSD": {"KEN": 12.0, "NPL": 9.0},  # few countries report 10.3.1 at all
}


def _years(rng: random.Random, last: int, dense: bool) -> list[int]:
    years = list(range(2015, last + 1))
    return years if dense else sorted(rng.sample(years, k=min(len(years), rng.randint(2, 4))))


def write_unsd(
    folder: Path, seed: int, day: date, series: list[str], areas: list[str], page_size: int
) -> list[Path]:
    """One set of API pages per series: `/v1/sdg/Series/Data?seriesCode=..&areaCode=..`."""
    rng = random.Random(f"{seed}|unsd|{day.year}")
    last = day.year - 2
    paths: list[Path] = []
    for code in series:
        goal, target, indicator, description, units, age = SERIES[code]
        rows = []
        for iso3 in areas:
            level = LEVEL.get(code, {}).get(iso3)
            if level is None:
                continue
            for year in _years(rng, last, dense=code in ("SH_H2O_SAFE", "SH_ACS_UNHC", "SI_POV_DAY1")):
                value = max(level + (year - 2015) * rng.uniform(-0.4, 0.9) + rng.uniform(-1, 1), 0.1)
                rows.append(
                    {
                        "goal": [goal],
                        "target": [target],
                        "indicator": [indicator],
                        "series": code,
                        "seriesDescription": description,
                        "seriesCount": "1",
                        "geoAreaCode": M49[iso3],
                        "geoAreaName": COUNTRY_NAMES[iso3],
                        "timePeriodStart": float(year),
                        "value": f"{value:.1f}" if units == "PERCENT" else f"{value:.0f}",
                        "valueType": "Float",
                        "time_detail": None,
                        "timeCoverage": None,
                        "upperBound": None,
                        "lowerBound": None,
                        "basePeriod": None,
                        "source": f"{COUNTRY_NAMES[iso3]} national household survey {year}",
                        "geoInfoUrl": None,
                        "footnotes": [],
                        "attributes": {"Nature": rng.choice(("C", "C", "CA", "E")), "Units": units},
                        "dimensions": {
                            "Age": age,
                            "Location": "ALLAREA",
                            "Sex": "BOTHSEX",
                            "Reporting Type": "G",
                        },
                    }
                )
        total = len(rows)
        pages = max((total + page_size - 1) // page_size, 1)
        for number in range(1, pages + 1):
            body = {
                "size": page_size,
                "totalElements": total,
                "totalPages": pages,
                "pageNumber": number,
                "attributes": [
                    {"id": "Nature", "codes": [{"code": "C", "description": "Country data", "sdmx": "C"}]},
                    {
                        "id": "Units",
                        "codes": [
                            {
                                "code": units,
                                "description": units,
                                "sdmx": "PT" if units == "PERCENT" else "IX",
                            }
                        ],
                    },
                ],
                "dimensions": [
                    {"id": "Sex", "codes": [{"code": "BOTHSEX", "description": "Both sexes", "sdmx": "_T"}]},
                    {
                        "id": "Age",
                        "codes": [
                            {"code": age, "description": age, "sdmx": "_T" if age == "ALLAGE" else "Y0T4"}
                        ],
                    },
                    {
                        "id": "Location",
                        "codes": [{"code": "ALLAREA", "description": "All areas", "sdmx": "_T"}],
                    },
                ],
                "data": rows[(number - 1) * page_size : number * page_size],
            }
            path = folder / f"{code}_page-{number:03d}.json"
            with atomic(path, "w", encoding="utf-8") as fh:
                json.dump(body, fh, ensure_ascii=False, indent=1)
            paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Kenya National Bureau of Statistics: SDMX-ML 2.1 generic data against the IAEG-SDGs DSD
# --------------------------------------------------------------------------------------------

DIMENSIONS = [
    "FREQ",
    "REPORTING_TYPE",
    "SERIES",
    "REF_AREA",
    "SEX",
    "AGE",
    "URBANISATION",
    "INCOME_WEALTH_QUANTILE",
    "EDUCATION_LEV",
    "OCCUPATION",
    "CUST_BREAKDOWN",
    "COMPOSITE_BREAKDOWN",
    "DISABILITY_STATUS",
    "ACTIVITY",
    "PRODUCT",
]
KNBS_SERIES = {"SH_H2O_SAFE": 62.0, "SG_REG_BRTH": 76.0, "SI_POV_NAHC": 36.0}


def write_sdmx_ml(folder: Path, seed: int, day: date) -> list[Path]:
    """National series by sex and by urban/rural (never by disability or refugee status)."""
    rng = random.Random(f"{seed}|knbs|{day.year}")
    quarter = (day.month - 1) // 3 + 1
    path = folder / f"KNBS_SDG_{day.year}Q{quarter}.xml"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<message:GenericData xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" '
        'xmlns:generic="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic" '
        'xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">',
        "<message:Header>",
        f"<message:ID>KNBS_SDG_{day.year}Q{quarter}</message:ID>",
        "<message:Test>false</message:Test>",
        f"<message:Prepared>{day.year}-{3 * quarter - 2:02d}-01T00:00:00</message:Prepared>",
        '<message:Sender id="KNBS"><common:Name xml:lang="en">Kenya National Bureau of Statistics</common:Name></message:Sender>',
        '<message:Structure structureID="IAEG-SDGs_SDG_1_0" dimensionAtObservation="TIME_PERIOD">',
        '<common:Structure><Ref agencyID="IAEG-SDGs" id="SDG" version="1.0"/></common:Structure>',
        "</message:Structure>",
        "</message:Header>",
        '<message:DataSet structureRef="IAEG-SDGs_SDG_1_0">',
    ]
    for code, level in KNBS_SERIES.items():
        age = "Y0T4" if code == "SG_REG_BRTH" else "_T"
        cuts = [("_T", "_T"), ("F", "_T"), ("M", "_T"), ("_T", "U"), ("_T", "R")]
        for sex, urb in cuts:
            key = {d: "_T" for d in DIMENSIONS}
            key.update(
                FREQ="A", REPORTING_TYPE="N", SERIES=code, REF_AREA="404", SEX=sex, AGE=age, URBANISATION=urb
            )
            if code == "SI_POV_NAHC" and sex != "_T":
                continue  # poverty is measured per household: no breakdown by sex
            lines.append("<generic:Series><generic:SeriesKey>")
            lines += [f'<generic:Value id="{d}" value="{key[d]}"/>' for d in DIMENSIONS]
            lines.append("</generic:SeriesKey><generic:Attributes>")
            lines += [
                '<generic:Value id="UNIT_MEASURE" value="PT"/>',
                '<generic:Value id="UNIT_MULT" value="0"/>',
                '<generic:Value id="NATURE" value="C"/>',
            ]
            lines.append("</generic:Attributes>")
            shift = {"F": -1.5, "M": 1.5, "U": 9.0, "R": -6.0}.get(sex if sex != "_T" else urb, 0.0)
            if code == "SI_POV_NAHC":
                shift = -shift
            for year in (2019, 2021, day.year - 2):
                value = level + shift + (year - 2019) * 0.6 + rng.uniform(-0.8, 0.8)
                lines.append(
                    f'<generic:Obs><generic:ObsDimension value="{year}"/>'
                    f'<generic:ObsValue value="{value:.1f}"/>'
                    '<generic:Attributes><generic:Value id="OBS_STATUS" value="A"/></generic:Attributes>'
                    "</generic:Obs>"
                )
            lines.append("</generic:Series>")
    lines += ["</message:DataSet>", "</message:GenericData>", ""]
    with atomic(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return [path]


# --------------------------------------------------------------------------------------------
# Statistics Canada's Open SDG platform: one CSV per indicator, a blank cell meaning total
# --------------------------------------------------------------------------------------------

CANADA_PROVINCES = (
    ("Ontario", "35"),
    ("Quebec", "24"),
    ("Manitoba", "46"),
    ("Saskatchewan", "47"),
    ("Alberta", "48"),
    ("British Columbia", "59"),
)


def write_open_sdg(folder: Path, seed: int, day: date) -> list[Path]:
    """Indicator 6.1.1 for Canada: national, by province, and for First Nations people living
    on reserve (a group the global database never breaks out)."""
    rng = random.Random(f"{seed}|open_sdg|{day.year}")
    path = folder / "indicator_6-1-1.csv"
    series = "Proportion of population using safely managed drinking water services"
    with atomic(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["Year", "Series", "Units", "Geography", "Population group", "GeoCode", "Value"])
        for year in range(2016, day.year - 1):
            writer.writerow([year, series, "Percentage", "", "", "", f"{98.0 + rng.uniform(-0.3, 0.3):.1f}"])
            for name, geocode in CANADA_PROVINCES:
                writer.writerow(
                    [year, series, "Percentage", name, "", geocode, f"{97.5 + rng.uniform(-1.0, 1.5):.1f}"]
                )
            writer.writerow(
                [
                    year,
                    series,
                    "Percentage",
                    "",
                    "First Nations people living on reserve",
                    "",
                    f"{71.0 + (year - 2016) * 1.8 + rng.uniform(-1, 1):.1f}",
                ]
            )
    return [path]
