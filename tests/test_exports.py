"""The exports after a publish: SDMX-ML (series-keyed) and SDMX-CSV read back with sdmx1 and
with pysdmx against the LNOB structure and compared with the mart, Open SDG files checked against Open SDG's format rules,
Parquet of every mart.

One real night (`airflow dags test`, a small sample: the session's published night, conftest) publishes the marts and runs the export
step as the BI reader; the tests then spoil copies of the written files and check that each
check names what broke.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from lnob.platform import roles, warehouse
from lnob.platform.config import settings
from lnob.publish import open_sdg, sdmx_export
from lnob.publish.export import ExportError

NIGHT = "2026-11-21"
SEEDS = settings().dbt_project_dir / "seeds"


@pytest.fixture(scope="module")
def night(published_night):
    """One night published and exported on a clean warehouse and landing folder: the session's
    (conftest), restored for this module; the run summary."""
    assert published_night.night == NIGHT
    s = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    assert s["complete"] and s["published_tonight"], s["problems"]
    return s


@pytest.fixture
def reader(warehouse_url):
    """A connection as the BI reader, the role the export step runs as."""
    with warehouse.connect(roles.step_url(warehouse_url, roles.READER)) as conn:
        yield conn


def _file(s: dict, name: str) -> Path:
    return Path(s["exports"]["files"][name]["path"])


# --- what the night wrote ---------------------------------------------------------------


@pytest.mark.integration
def test_every_export_is_listed_in_the_run_summary(night, db):
    files = night["exports"]["files"]
    assert {"lnob_structure.xml", "sdg_observations.sdmx.xml", "sdg_observations.sdmx.csv"} <= set(files)
    with db.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        marts = {r[0] for r in cur.fetchall()}
        cur.execute("select count(*) from marts.fct_sdg_observation")
        observations = cur.fetchone()[0]
    assert {f"marts/{t}.parquet" for t in marts} <= set(files)
    assert {f"marts/{t}.csv" for t in marts} <= set(files)
    assert (
        files["sdg_observations.sdmx.xml"]["rows"]
        == files["sdg_observations.sdmx.csv"]["rows"]
        == observations
    )
    open_sdg_files = [n for n in files if n.startswith("open_sdg/")]
    assert "open_sdg/BGD/indicator_3-8-2.csv" in open_sdg_files, open_sdg_files
    for info in files.values():
        assert Path(info["path"]).is_file()
        assert Path(info["path"]).parent.is_relative_to(settings().exports_dir / NIGHT)


@pytest.mark.integration
def test_sdmx_files_read_back_and_match_the_mart(night, reader):
    ext = sdmx_export.Extensions.from_seeds(SEEDS)
    rows = sdmx_export.fetch_observations(reader)
    dataflow = sdmx_export.read_structure(_file(night, "lnob_structure.xml"))
    for name in ("sdg_observations.sdmx.xml", "sdg_observations.sdmx.csv"):
        for reader in sdmx_export.READERS:  # sdmx1, and pysdmx (independent; XSD-validates the XML)
            assert sdmx_export.check(
                _file(night, name), dataflow, rows, ext, reader, _file(night, "lnob_structure.xml")
            ) == len(rows), (name, reader)
    # suppressed community cells are there, as Q without a value
    suppressed = [r for r in rows if r["OBS_STATUS"] == "Q"]
    assert suppressed and all(r["OBS_VALUE"] is None for r in suppressed)
    back = sdmx_export.read_back(_file(night, "sdg_observations.sdmx.xml"), dataflow)
    assert sum(1 for r in back if r.get("OBS_STATUS") == "Q" and r["OBS_VALUE"] is None) == len(suppressed)


@pytest.mark.integration
def test_the_structure_declares_the_lnob_codes(night):
    """The LNOB codes are in the structure written beside the data, read with sdmx1."""
    dataflow = sdmx_export.read_structure(_file(night, "lnob_structure.xml"))
    dsd = dataflow.structure
    assert (dsd.maintainer.id, dsd.id) == ("LNOB", "SDG_LNOB")

    def codes(dim: str):
        return dsd.dimensions.get(dim).local_representation.enumerated

    with (SEEDS / "lnob" / "lnob_custom_breakdowns.csv").open(encoding="utf-8") as fh:
        groups = {r["cust_breakdown"]: r["label"] for r in csv.DictReader(fh)}
    assert {c: str(codes("CUST_BREAKDOWN")[c].name) for c in groups} == groups
    assert str(codes("REF_AREA")["BD-A"].name) == "Barishal" and "50" in codes("REF_AREA")
    assert "_L_LNOB_HLTH_ACS" in codes("SERIES") and "SH_XPD_EARN10" in codes("SERIES")
    assert codes("REF_AREA").maintainer.id == "LNOB"
    # the data say which structure they follow
    header = _file(night, "sdg_observations.sdmx.csv").read_text(encoding="utf-8").splitlines()[1]
    assert header.startswith(f"dataflow,{sdmx_export.DATAFLOW_REF},I,")
    xml = _file(night, "sdg_observations.sdmx.xml").read_text(encoding="utf-8")
    assert 'dimensionAtObservation="TIME_PERIOD"' in xml and 'agencyID="LNOB"' in xml
    assert night["exports"]["files"]["sdg_observations.sdmx.xml"]["layout"] == "series"


@pytest.mark.integration
def test_the_sdmx_ml_is_series_keyed_as_sdg_data_exchange_files_are(night, reader):
    """One Series per key of the non-time dimensions, carrying UNIT_MEASURE and the group label
    (series-level in the DSD), its observations with TIME_PERIOD, OBS_VALUE (NaN when suppressed)
    and the observation-level attributes only: what sdg-build's InputSdmxMl_StructureSpecific
    reads (every Series has SERIES, every Obs TIME_PERIOD and OBS_VALUE)."""
    from lxml import etree

    rows = sdmx_export.fetch_observations(reader)
    root = etree.parse(str(_file(night, "sdg_observations.sdmx.xml"))).getroot()
    series = root.findall(".//{*}DataSet/Series")
    keys = {tuple(r[d] for d in sdmx_export.SERIES_DIMENSIONS) for r in rows}
    assert len(series) == len(keys) > 0
    level = sdmx_export.attachment(sdmx_export.read_structure(_file(night, "lnob_structure.xml")).structure)
    n_obs = 0
    for s in series:
        assert set(sdmx_export.SERIES_DIMENSIONS) <= set(s.attrib) and "TIME_PERIOD" not in s.attrib
        assert "UNIT_MEASURE" in s.attrib and all(
            level[a] == "series" for a in s.attrib if a not in sdmx_export.DIMENSIONS
        )
        for obs in s:
            n_obs += 1
            assert {"TIME_PERIOD", "OBS_VALUE"} <= set(obs.attrib)
            assert all(level[a] == "observation" for a in obs.attrib if a not in ("TIME_PERIOD", "OBS_VALUE"))
    assert n_obs == len(rows)
    assert any(obs.get("OBS_VALUE") == "NaN" and obs.get("OBS_STATUS") == "Q" for obs in root.iter("Obs"))


@pytest.mark.integration
def test_the_flat_form_on_demand(night, tmp_path, capsys):
    """``python -m lnob.publish.sdmx_export --layout flat`` writes the flat SDMX-ML of what marts holds,
    checked with both readers like the nightly one."""
    assert sdmx_export.main(["--layout", "flat", "--out", str(tmp_path)]) == 0
    xml = (tmp_path / "sdg_observations.sdmx.xml").read_text(encoding="utf-8")
    assert 'dimensionAtObservation="AllDimensions"' in xml and "<Series" not in xml
    printed = capsys.readouterr().out
    assert "read back with sdmx1 and with pysdmx (XSD-validated)" in printed
    n = night["exports"]["files"]["sdg_observations.sdmx.xml"]["rows"]
    assert xml.count("<Obs ") == n


# --- a spoiled SDMX file fails its read-back check, naming it -------------------------------


def _spoil(src: Path, tmp_path: Path, pattern: str, repl) -> Path:
    dst = tmp_path / src.name
    text = src.read_text(encoding="utf-8")
    spoiled, n = re.subn(pattern, repl, text, count=1)
    assert n == 1, pattern
    dst.write_text(spoiled, encoding="utf-8")
    return dst


def _check(night, reader, path: Path) -> str:
    ext = sdmx_export.Extensions.from_seeds(SEEDS)
    dataflow = sdmx_export.read_structure(_file(night, "lnob_structure.xml"))
    with pytest.raises(ExportError) as failed:
        sdmx_export.check(path, dataflow, sdmx_export.fetch_observations(reader), ext)
    return str(failed.value)


@pytest.mark.integration
def test_an_edited_value_in_the_sdmx_ml_fails_the_read_back(night, reader, tmp_path):
    path = _spoil(
        _file(night, "sdg_observations.sdmx.xml"),
        tmp_path,
        r'OBS_VALUE="([0-9.]+)"',
        lambda m: f'OBS_VALUE="{float(m.group(1)) + 1.5}"',
    )
    message = _check(night, reader, path)
    assert str(path) in message and "OBS_VALUE" in message and "the mart has" in message


@pytest.mark.integration
def test_an_edited_value_in_the_sdmx_csv_fails_the_read_back(night, reader, tmp_path):
    # the first observation with a value: OBS_VALUE is the column after TIME_PERIOD (a year)
    path = _spoil(
        _file(night, "sdg_observations.sdmx.csv"),
        tmp_path,
        r",(20\d\d),([0-9.]+),",
        lambda m: f",{m.group(1)},{float(m.group(2)) * 2 + 1},",
    )
    message = _check(night, reader, path)
    assert str(path) in message and "OBS_VALUE" in message


@pytest.mark.integration
def test_a_dropped_or_undeclared_observation_fails_the_read_back(night, reader, tmp_path):
    dropped = _spoil(_file(night, "sdg_observations.sdmx.xml"), tmp_path, r"\n\s*<Obs [^>]*/>", "")
    assert "observations read back, the mart has" in _check(night, reader, dropped)
    (tmp_path / "undeclared").mkdir()
    undeclared = _spoil(
        _file(night, "sdg_observations.sdmx.xml"),
        tmp_path / "undeclared",
        r'REF_AREA="BD-[A-H]"',
        'REF_AREA="BD-Z"',
    )
    message = _check(night, reader, undeclared)
    assert str(undeclared) in message and "REF_AREA 'BD-Z' is not in its codelist" in message
    # the independent reader catches both as well
    structure = _file(night, "lnob_structure.xml")
    for spoiled, expected in (
        (dropped, "observations read back, the mart has"),
        (undeclared, "REF_AREA 'BD-Z' is not in its codelist"),
    ):
        with pytest.raises(ExportError, match=expected) as failed:
            sdmx_export.check(
                spoiled,
                sdmx_export.read_structure(structure),
                sdmx_export.fetch_observations(reader),
                sdmx_export.Extensions.from_seeds(SEEDS),
                "pysdmx",
                structure,
            )
        assert str(spoiled) in str(failed.value) and "read with pysdmx" in str(failed.value)


@pytest.mark.integration
def test_an_unreadable_sdmx_file_fails_naming_it(night, reader, tmp_path):
    path = tmp_path / "sdg_observations.sdmx.xml"
    path.write_text(_file(night, "sdg_observations.sdmx.xml").read_text(encoding="utf-8")[:5000])
    message = _check(night, reader, path)
    assert str(path) in message and "does not read back" in message


# --- Open SDG ----------------------------------------------------------------------------


@pytest.mark.integration
def test_open_sdg_files_pass_the_checker_and_have_labels(night):
    files = night["exports"]["files"]
    names = [n for n in files if n.startswith("open_sdg/") and n.endswith(".csv")]
    assert names
    for name in names:
        assert open_sdg.check(_file(night, name)) == files[name]["rows"]
        # each with its Open SDG indicator configuration
        iso3, file = name.split("/")[1:]
        config = (
            f"open_sdg/{iso3}/indicator-config/{file.removeprefix('indicator_').removesuffix('.csv')}.yml"
        )
        assert config in files and Path(files[config]["path"]).is_file(), config
    assert {n for n in files if n.startswith("open_sdg/") and not n.endswith(".csv")} == {
        f"open_sdg/{n.split('/')[1]}/indicator-config/{n.split('/')[2][10:-4]}.yml" for n in names
    }
    with _file(night, "open_sdg/BGD/indicator_3-8-2.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    assert header[0] == "Year" and header[-1] == "Value" and "GeoCode" in header
    disaggregations = [c for c in header if c not in open_sdg.SPECIAL]
    headline = [r for r in rows if not any(r[c] for c in disaggregations)]
    assert {r["Series"] for r in headline} == {r["Series"] for r in rows}  # every series has one
    assert {r["Sex"] for r in rows} >= {"", "Female", "Male"}
    assert "Persons with disability" in {r["Disability status"] for r in rows}
    assert {"Refugee or forcibly displaced", "Ultra-poor"} <= {r["Population group"] for r in rows}
    suppressed = [r for r in rows if r["Observation status"] == "Missing value; suppressed"]
    assert suppressed and all(r["Value"] == "" for r in suppressed)
    assert all(r["GeoCode"].startswith("BD-") for r in rows if r["Region"])


@pytest.mark.integration
def test_the_lnob_proxy_is_filed_as_a_proxy_not_as_the_official_indicator(night):
    """_L_LNOB_HLTH_ACS speaks to 3.8.1 but is not it: its file is indicator_3-8-1-lnob.csv with
    an indicator configuration that names it, tags it and says it is not the official 3.8.1."""
    import yaml

    files = night["exports"]["files"]
    assert "open_sdg/BGD/indicator_3-8-1-lnob.csv" in files
    assert not any(n.endswith("/indicator_3-8-1.csv") for n in files if n.startswith("open_sdg/"))
    with _file(night, "open_sdg/BGD/indicator_3-8-1-lnob.csv").open(encoding="utf-8", newline="") as fh:
        assert {r["Series"] for r in csv.DictReader(fh)} == {
            "Proportion of persons who needed health care in the last 12 months and received it "
            "(LNOB community proxy for universal health coverage)"
        }
    config = yaml.safe_load(
        _file(night, "open_sdg/BGD/indicator-config/3-8-1-lnob.yml").read_text(encoding="utf-8")
    )
    assert config["indicator_number"] == "3.8.1.lnob" and config["tags"] == ["LNOB community proxy"]
    assert "not the official indicator 3.8.1" in config["data_notice_heading"]
    assert config["national_geographical_coverage"] == "Bangladesh"
    # in the SDMX structure, too, the proxy series is filed under the proxy indicator
    dsd = sdmx_export.read_structure(_file(night, "lnob_structure.xml")).structure
    code = dsd.dimensions.get("SERIES").local_representation.enumerated["_L_LNOB_HLTH_ACS"]
    assert [str(a.text) for a in code.annotations if a.title == "Indicator"] == ["3.8.1.lnob"]
    assert "not the official indicator" in str(code.description)


@pytest.mark.integration
def test_repeated_indicators_hold_the_same_data_and_say_so(night):
    """10.3.1 and 16.b.1 are one indicator under two targets; VC_VOV_GDSD serves both, so their
    files are the same, and each configuration's footnote names the other."""
    import yaml

    files = night["exports"]["files"]
    countries = {n.split("/")[1] for n in files if n.endswith("/indicator_10-3-1.csv")}
    assert countries
    for iso3 in countries:
        a = _file(night, f"open_sdg/{iso3}/indicator_10-3-1.csv").read_bytes()
        assert a == _file(night, f"open_sdg/{iso3}/indicator_16-b-1.csv").read_bytes()
        for this, other in (("10-3-1", "16.b.1"), ("16-b-1", "10.3.1")):
            config = yaml.safe_load(_file(night, f"open_sdg/{iso3}/indicator-config/{this}.yml").read_text())
            assert (
                config["data_footnote"].startswith("Repeated indicator") and other in config["data_footnote"]
            )
        single = (
            yaml.safe_load(_file(night, f"open_sdg/{iso3}/indicator-config/3-8-2.yml").read_text())
            if f"open_sdg/{iso3}/indicator-config/3-8-2.yml" in files
            else {}
        )
        assert "data_footnote" not in single


GOOD = """Year,Series,Units,Sex,Population group,GeoCode,Observation status,Value
2026,Share,Percent,,,,Experimental value,24.5
2026,Share,Percent,Female,,,Experimental value,26.1
2026,Share,Percent,,Ultra-poor,,Missing value; suppressed,
"""


def _open_sdg_file(tmp_path: Path, text: str, name: str = "indicator_3-8-2.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.unit
def test_the_open_sdg_checker_accepts_a_good_file(tmp_path):
    assert open_sdg.check(_open_sdg_file(tmp_path, GOOD)) == 3


@pytest.mark.unit
@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD + "2026,Share,Percent,Female,,,Experimental value,27.0\n", "row 5: duplicate of row 3"),
        (GOOD.replace("26.1", "n/a"), "row 3, column 'Value': expected a number or blank, found 'n/a'"),
        (
            GOOD.replace("2026,Share,Percent,Female", "2026.0,Share,Percent,Female"),
            "row 3, column 'Year': expected a year",
        ),
        (GOOD.replace("2026,Share,Percent,,,,Experimental value,24.5\n", ""), "no headline row"),
        (
            GOOD.replace("Observation status,Value", "Value,Observation status"),
            "the last column must be 'Value'",
        ),
        (GOOD.replace("Year,Series", "Series,Year"), "the first column must be 'Year'"),
        (
            GOOD.replace("Units,Sex,Population group,GeoCode", "Units,Sex,GeoCode,Population group"),
            "the disaggregation columns must come after",
        ),
        (GOOD.replace(",Female,", ",Female ,"), "surrounding whitespace"),
        (GOOD + ",,,,,,,\n", "row 5: empty row"),
    ],
)
def test_the_open_sdg_checker_names_each_violation(tmp_path, text, expected):
    path = _open_sdg_file(tmp_path, text)
    with pytest.raises(open_sdg.OpenSdgError) as failed:
        open_sdg.check(path)
    assert str(path) in str(failed.value) and expected in str(failed.value)


@pytest.mark.unit
def test_the_open_sdg_checker_wants_open_sdg_file_names(tmp_path):
    with pytest.raises(open_sdg.OpenSdgError, match="indicator_<goal>-<target>-<indicator>.csv"):
        open_sdg.check(_open_sdg_file(tmp_path, GOOD, name="3.8.2.csv"))


# --- Parquet -----------------------------------------------------------------------------


@pytest.mark.integration
def test_parquet_row_counts_equal_the_marts(night, db):
    import pandas as pd

    parquet = {n: info for n, info in night["exports"]["files"].items() if n.endswith(".parquet")}
    with db.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        tables = sorted(r[0] for r in cur.fetchall())
        assert sorted(Path(n).stem for n in parquet) == tables
        for t in tables:
            cur.execute(f"select count(*) from marts.{t}")
            n = cur.fetchone()[0]
            frame = pd.read_parquet(_file(night, f"marts/{t}.parquet"))
            assert len(frame) == n == parquet[f"marts/{t}.parquet"]["rows"], t
            cur.execute(f"select * from marts.{t} limit 0")
            assert list(frame.columns) == [d[0] for d in cur.description], t
    observations = pd.read_parquet(_file(night, "marts/fct_sdg_observation.parquet"))
    assert observations["obs_value"].dtype.kind == "f" and observations["n"].isna().any()


# --- CSV for spreadsheets: formula triggers neutralised (issue 14) ----------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.unit
def test_the_open_sdg_writer_neutralises_formulas_in_labels_and_keeps_negative_values(tmp_path):
    rows = [
        {
            "Year": "2026",
            "Series": FORMULAS[0],
            "Units": "Percent",
            "Population group": "",
            "GeoCode": "",
            "Observation status": "Normal value",
            "Value": "-1.5",
        },
        {
            "Year": "2026",
            "Series": FORMULAS[0],
            "Units": "Percent",
            "Population group": FORMULAS[1],
            "GeoCode": "",
            "Observation status": "Normal value",
            "Value": "-0.25",
        },
    ]
    for r in rows:
        r.update({c: "" for c, _, _ in open_sdg.DISAGGREGATIONS if c not in r})
    path = tmp_path / "indicator_3-8-2.csv"
    assert open_sdg.write(rows, path) == 2 and open_sdg.check(path) == 2
    with path.open(encoding="utf-8", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [r["Series"] for r in back] == ["'" + FORMULAS[0]] * 2
    assert {r["Population group"] for r in back} == {"", "'" + FORMULAS[1]}
    assert [r["Value"] for r in back] == ["-1.5", "-0.25"]  # numbers are numbers


@pytest.mark.integration
def test_mart_csvs_neutralise_text_cells_only(warehouse_url, db, tmp_path):
    from lnob.publish.export import write_mart_csvs

    with db.cursor() as cur:
        cur.execute("drop schema if exists csv_injection cascade")
        cur.execute("create schema csv_injection")
        cur.execute(
            "create table csv_injection.planted (label text, code varchar(40), gap numeric, n integer)"
        )
        for i, text in enumerate(FORMULAS):
            cur.execute(
                "insert into csv_injection.planted values (%s, %s, %s, %s)", (text, text, -1.5 - i, -i)
            )
        cur.execute("insert into csv_injection.planted values ('Ethnic minority', 'C01', 2.5, 3)")
        cur.execute(
            "create view csv_injection.v_planted as select label as theme, gap from csv_injection.planted"
        )
    try:
        written = write_mart_csvs(db, tmp_path, schema="csv_injection")
        with written["planted"][0].open(encoding="utf-8", newline="") as fh:
            back = list(csv.DictReader(fh))
        assert [r["label"] for r in back] == ["'" + f for f in FORMULAS] + ["Ethnic minority"]
        assert [r["code"] for r in back] == ["'" + f for f in FORMULAS] + ["C01"]
        assert [r["gap"] for r in back][:2] == ["-1.5", "-2.5"] and [r["n"] for r in back][:2] == ["0", "-1"]
        with written["v_planted"][0].open(encoding="utf-8", newline="") as fh:
            assert [r["theme"] for r in csv.DictReader(fh)][0] == "'" + FORMULAS[0]
    finally:
        with db.cursor() as cur:
            cur.execute("drop schema csv_injection cascade")


@pytest.mark.unit
def test_the_sdmx_csv_neutralises_formulas_in_text_attributes_and_reads_back(tmp_path):
    """Written with sdmx1, read back with it against the structure: the group label and the source
    detail come back quoted, as written; the value and the bounds stay negative numbers."""
    import dataclasses

    ext = sdmx_export.Extensions.from_seeds(SEEDS)
    ext = dataclasses.replace(ext, custom_breakdowns={**ext.custom_breakdowns, "C03": FORMULAS[1]})
    row = {d: "_T" for d in sdmx_export.DIMENSIONS}
    row.update(
        FREQ="A",
        REPORTING_TYPE="N",
        SERIES="SG_REG_BRTH",
        REF_AREA="356",
        AGE="Y0T4",
        CUST_BREAKDOWN="C03",
        TIME_PERIOD="2026",
        OBS_VALUE=-1.5,
        UNIT_MEASURE="PT",
        UNIT_MULT="0",
        OBS_STATUS="A",
        NATURE="C",
        LOWER_BOUND=-2.25,
        UPPER_BOUND=-0.75,
        SOURCE_DETAIL=FORMULAS[0],
        COMMENT_OBS="@SUM(A1)",
    )
    structure = sdmx_export.lnob_structure(ext)
    sdmx_export.write_structure(structure, tmp_path / "lnob_structure.xml")
    path = tmp_path / "sdg_observations.sdmx.csv"
    sdmx_export.write_csv(sdmx_export.data_message([row], structure, ext), path)
    dataflow = sdmx_export.read_structure(tmp_path / "lnob_structure.xml")
    assert sdmx_export.check(path, dataflow, [row], ext) == 1
    with path.open(encoding="utf-8", newline="") as fh:
        (back,) = list(csv.DictReader(fh))
    assert back["CUST_BREAKDOWN_LB"] == "'" + FORMULAS[1] and back["SOURCE_DETAIL"] == "'" + FORMULAS[0]
    assert back["COMMENT_OBS"] == "'@SUM(A1)"
    assert (back["OBS_VALUE"], back["LOWER_BOUND"], back["UPPER_BOUND"]) == ("-1.5", "-2.25", "-0.75")
