"""The SDMX-ML export, series-keyed and flat, on a handful of observations (no warehouse, a few
seconds): written with sdmx1, read back with sdmx1 and with pysdmx (which validates against the
SDMX 2.1 XSD), compared with the rows; the structure message XSD-valid, with the indicator
annotations Open SDG's sdg-build files series by; the layout as the SDG data-exchange file of a
national office (tests/fixtures/sdmx/KNBS_SDG_2026Q3.xml) has it; and the Open SDG filing of the
partnership's proxy series and of repeated indicators.

sdg-build itself is not on PyPI (it installs from its git repository, which this project's
machines cannot reach), so what its ``InputSdmxMl_StructureSpecific`` reads is checked here as
its source reads it: ``.//Series`` elements (namespaces stripped) with a ``SERIES`` attribute,
``Obs`` children with ``TIME_PERIOD`` and ``OBS_VALUE``, and, in the structure message,
``Codelist[@id='CL_SERIES']/Code`` annotations ``Indicator`` each with an ``IndicatorTitle``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lnob.platform.config import settings
from lnob.publish import open_sdg, sdmx_export
from lnob.publish.sdmx_export import ExportError
from lxml import etree

SEEDS = settings().dbt_project_dir / "seeds"
FIXTURE = Path(__file__).parent / "fixtures" / "sdmx" / "KNBS_SDG_2026Q3.xml"

pytestmark = pytest.mark.unit


def _row(series: str, period: str, value, **kw) -> dict:
    row = {d: "_T" for d in sdmx_export.DIMENSIONS}
    row.update(
        FREQ="A",
        REPORTING_TYPE="N",
        SERIES=series,
        REF_AREA="BD-A",
        TIME_PERIOD=period,
        OBS_VALUE=value,
        UNIT_MEASURE="PT",
        UNIT_MULT="0",
        OBS_STATUS="G" if value is not None else "Q",
        NATURE="C",
        LOWER_BOUND=None,
        UPPER_BOUND=None,
        SOURCE_DETAIL="LNOB community survey",
        COMMENT_OBS=None,
    )
    row.update(kw)
    return row


#: three series (two groups of one series, the proxy), two periods, a suppressed cell, bounds
ROWS = sorted(
    [
        _row("SH_XPD_EARN10", "2025", 21.5, CUST_BREAKDOWN="C05", LOWER_BOUND=18.25, UPPER_BOUND=24.75),
        _row("SH_XPD_EARN10", "2026", 23.0, CUST_BREAKDOWN="C05", LOWER_BOUND=19.5, UPPER_BOUND=26.5),
        _row("SH_XPD_EARN10", "2026", None, CUST_BREAKDOWN="C03"),
        _row("SH_XPD_EARN10", "2026", 12.0, SEX="F", COMMENT_OBS='=HYPERLINK("x")'),
        _row("_L_LNOB_HLTH_ACS", "2026", 61.9, DISABILITY_STATUS="PD"),
        _row("VC_VOV_GDSD", "2026", 30.25, AGE="Y_GE18", CUST_BREAKDOWN="C01"),
    ],
    key=lambda r: tuple(r[d] for d in sdmx_export.DIMENSIONS),
)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The structure message and the rows written in both layouts (and as SDMX-CSV)."""
    out = tmp_path_factory.mktemp("sdmx")
    ext = sdmx_export.Extensions.from_seeds(SEEDS)
    structure = sdmx_export.lnob_structure(ext)
    sdmx_export.write_structure(structure, out / "lnob_structure.xml")
    for layout in sdmx_export.LAYOUTS:
        sdmx_export.write_xml(
            sdmx_export.data_message(ROWS, structure, ext, layout), out / f"{layout}.sdmx.xml"
        )
    sdmx_export.write_csv(
        sdmx_export.data_message(ROWS, structure, ext, sdmx_export.FLAT), out / "obs.sdmx.csv"
    )
    return {
        "dir": out,
        "ext": ext,
        "structure": structure,
        "dataflow": sdmx_export.read_structure(out / "lnob_structure.xml"),
    }


def _stripped(path: Path):
    """The document with namespaces stripped, as sdg-build's InputSdmx.parse_xml does."""
    root = etree.parse(str(path)).getroot()
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


@pytest.mark.parametrize("name", ["series.sdmx.xml", "flat.sdmx.xml", "obs.sdmx.csv"])
@pytest.mark.parametrize("reader", sdmx_export.READERS)
def test_every_layout_reads_back_with_both_readers_as_written(written, name, reader):
    path = written["dir"] / name
    assert sdmx_export.check(
        path, written["dataflow"], ROWS, written["ext"], reader, written["dir"] / "lnob_structure.xml"
    ) == len(ROWS)


def test_both_readers_read_the_same_observations(written):
    path = written["dir"] / "series.sdmx.xml"
    a = sdmx_export.read_back(path, written["dataflow"])
    b = sdmx_export.read_back_pysdmx(path, written["dir"] / "lnob_structure.xml")

    def canon(rows):
        return sorted(
            (
                {k: (float(v) if k in sdmx_export.NUMERIC_ATTRIBUTES else v) for k, v in r.items()}
                for r in rows
            ),
            key=lambda r: tuple(r[d] for d in sdmx_export.DIMENSIONS),
        )

    assert canon(a) == canon(b) and len(a) == len(ROWS)
    suppressed = [r for r in a if r["OBS_STATUS"] == "Q"]
    assert len(suppressed) == 1 and suppressed[0]["OBS_VALUE"] is None


def test_series_keyed_puts_each_attribute_where_the_dsd_attaches_it(written):
    root = etree.parse(str(written["dir"] / "series.sdmx.xml")).getroot()
    (ref,) = [s for s in root.iter("{*}Structure") if s.get("structureID")]
    assert ref.get("dimensionAtObservation") == "TIME_PERIOD"
    assert ref.get("namespace").endswith("DataStructure=LNOB:SDG_LNOB(1.0):ObsLevelDim:TIME_PERIOD")
    series = root.findall(".//{*}DataSet/Series")
    assert len(series) == len({tuple(r[d] for d in sdmx_export.SERIES_DIMENSIONS) for r in ROWS}) == 5
    earn = [s for s in series if s.get("SERIES") == "SH_XPD_EARN10" and s.get("CUST_BREAKDOWN") == "C05"]
    (s,) = earn
    assert s.get("UNIT_MEASURE") == "PT" and s.get("CUST_BREAKDOWN_LB") == "Other castes (OBC and general)"
    assert [o.get("TIME_PERIOD") for o in s] == ["2025", "2026"]
    assert [(o.get("OBS_VALUE"), o.get("OBS_STATUS"), o.get("LOWER_BOUND")) for o in s] == [
        ("21.5", "G", "18.25"),
        ("23.0", "G", "19.5"),
    ]
    for s in series:
        assert not {"TIME_PERIOD", "OBS_STATUS", "UNIT_MULT", "NATURE"} & set(s.attrib)
        for o in s:
            assert not set(sdmx_export.SERIES_DIMENSIONS) & set(o.attrib)
            assert not {"UNIT_MEASURE", "CUST_BREAKDOWN_LB"} & set(o.attrib)
    # a suppressed cell keeps its Obs: OBS_VALUE NaN, OBS_STATUS Q
    assert [
        (o.get("OBS_VALUE"), o.get("OBS_STATUS")) for o in root.iter("Obs") if o.get("OBS_STATUS") == "Q"
    ] == [("NaN", "Q")]


def test_the_flat_form_stays_available(written):
    root = etree.parse(str(written["dir"] / "flat.sdmx.xml")).getroot()
    (ref,) = [s for s in root.iter("{*}Structure") if s.get("structureID")]
    assert ref.get("dimensionAtObservation") == "AllDimensions"
    assert not root.findall(".//Series")
    obs = root.findall(".//{*}DataSet/Obs")
    assert len(obs) == len(ROWS)
    assert all(set(sdmx_export.DIMENSIONS) | {"UNIT_MEASURE"} <= set(o.attrib) for o in obs)


def test_the_layout_is_the_one_of_a_national_offices_data_exchange_file(written):
    """The KNBS fixture (series-keyed, as national offices send SDG data) and the export have
    the same shape: Series elements with the 15 non-time dimensions, Obs with TIME_PERIOD."""

    def shape(path: Path):
        root = _stripped(path)
        (ref,) = [s for s in root.iter("Structure") if s.get("structureID")]
        series = root.findall(".//DataSet/Series")
        return (
            ref.get("dimensionAtObservation"),
            ref.get("namespace").rsplit(":", 2)[-2:],
            all(set(sdmx_export.SERIES_DIMENSIONS) <= set(s.attrib) for s in series),
            all(
                o.tag == "Obs" and "TIME_PERIOD" in o.attrib and "OBS_VALUE" in o.attrib
                for s in series
                for o in s
            ),
            bool(series),
        )

    assert (
        shape(written["dir"] / "series.sdmx.xml")
        == shape(FIXTURE)
        == ("TIME_PERIOD", ["ObsLevelDim", "TIME_PERIOD"], True, True, True)
    )


def test_what_sdg_builds_structure_specific_input_reads_is_there(written):
    """As sdg-build's InputSdmxMl_StructureSpecific reads the data and InputSdmx the DSD: every
    Series's SERIES code has an Indicator annotation (with an IndicatorTitle) in CL_SERIES, so
    no series is skipped; VC_VOV_GDSD serves 10.3.1 and 16.b.1; the proxy is filed under
    3.8.1.lnob, not 3.8.1."""
    data = _stripped(written["dir"] / "series.sdmx.xml")
    dsd = _stripped(written["dir"] / "lnob_structure.xml")
    (cl_series,) = dsd.findall(".//Codelist[@id='CL_SERIES']")
    assert cl_series.get("agencyID") == "LNOB"

    def indicators(code: str) -> list[str]:
        (el,) = cl_series.findall(f"Code[@id='{code}']")
        ids = [
            a.findtext("AnnotationText")
            for a in el.findall(".//Annotation")
            if a.findtext("AnnotationTitle") == "Indicator"
        ]
        titles = [a for a in el.findall(".//Annotation") if a.findtext("AnnotationTitle") == "IndicatorTitle"]
        assert titles, code  # sdg-build pads the titles with the first one: there must be one
        return ids

    filed = {}
    for s in data.findall(".//Series"):
        filed.setdefault(s.attrib["SERIES"], indicators(s.attrib["SERIES"]))
        assert all("TIME_PERIOD" in o.attrib and "OBS_VALUE" in o.attrib for o in s.findall(".//Obs"))
    assert filed == {
        "SH_XPD_EARN10": ["3.8.2"],
        "VC_VOV_GDSD": ["10.3.1", "16.b.1"],
        "_L_LNOB_HLTH_ACS": ["3.8.1.lnob"],
    }
    assert indicators("SH_ACS_UNHC") == ["3.8.1"]  # the global annotations are kept


def test_the_structure_message_is_valid_against_the_sdmx_xsd(written):
    from pysdmx.io import read_sdmx

    msg = read_sdmx(written["dir"] / "lnob_structure.xml", validate=True)  # raises on a schema error
    assert "DataStructure=LNOB:SDG_LNOB(1.0)" in {s.short_urn for s in msg.structures}


def test_a_file_that_breaks_the_sdmx_schema_fails_the_pysdmx_read_back(written, tmp_path):
    tree = etree.parse(str(written["dir"] / "series.sdmx.xml"))
    for ref in tree.getroot().iter("{*}Structure"):
        ref.attrib.pop("namespace", None)  # required by the SDMX 2.1 XSD
    path = tmp_path / "series.sdmx.xml"
    tree.write(str(path), xml_declaration=True, encoding="utf-8")
    with pytest.raises(ExportError) as failed:
        sdmx_export.check(
            path, written["dataflow"], ROWS, written["ext"], "pysdmx", written["dir"] / "lnob_structure.xml"
        )
    assert (
        str(path) in str(failed.value) and "pysdmx" in str(failed.value) and "namespace" in str(failed.value)
    )


def test_a_series_level_attribute_that_changes_within_a_series_is_refused(written):
    rows = copy.deepcopy(ROWS)
    earn = [r for r in rows if r["SERIES"] == "SH_XPD_EARN10" and r["CUST_BREAKDOWN"] == "C05"]
    earn[1]["UNIT_MEASURE"] = "NUMBER"
    with pytest.raises(ExportError, match="series-level attribute UNIT_MEASURE has 2 values"):
        sdmx_export.data_message(rows, written["structure"], written["ext"])
    # flat, every attribute is the observation's own: written
    assert sdmx_export.data_message(rows, written["structure"], written["ext"], sdmx_export.FLAT)


def test_an_unknown_layout_or_reader_is_named():
    with pytest.raises(ValueError, match="layout 'wide'"):
        sdmx_export.data_message([], None, None, "wide")
    with pytest.raises(ValueError, match="reader 'pandasdmx'"):
        sdmx_export.check(Path("x.xml"), None, [], None, "pandasdmx")


# --- Open SDG: proxies and repeated indicators ------------------------------------------------


def test_the_partnership_series_are_proxies_with_their_own_open_sdg_id():
    proxies = open_sdg.proxy_indicators(SEEDS)
    (proxy,) = proxies["_L_LNOB_HLTH_ACS"]
    assert (proxy.proxy_for, proxy.indicator_number) == ("3.8.1", "3.8.1.lnob")
    assert "not the official indicator" in proxy.description
    assert open_sdg.file_name(proxy.indicator_number) == "indicator_3-8-1-lnob.csv"


def _mart_row(series: str, indicator: str, value: float, **kw) -> dict:
    row = {
        "indicator_code": indicator,
        "series": series,
        "series_name": f"name of {series}",
        "unit_name": "Percent",
        "country_iso3": "BGD",
        "ref_area_level": "country",
        "ref_area": "50",
        "area_name": "Bangladesh",
        "time_period": "2026",
        "sex": "_T",
        "age": "_T",
        "urbanisation": "_T",
        "disability_status": "_T",
        "composite_breakdown": "_T",
        "cust_breakdown": "_T",
        "obs_value": value,
        "obs_status": "G",
    }
    row.update(kw)
    return row


def test_open_sdg_files_the_proxy_apart_and_repeats_a_repeated_indicator(tmp_path):
    names = open_sdg.labels(SEEDS)
    rows = [
        _mart_row("_L_LNOB_HLTH_ACS", "3.8.1", 61.9),
        _mart_row("VC_VOV_GDSD", "10.3.1", 30.25, age="Y_GE18"),
        _mart_row("VC_VOV_GDSD", "16.b.1", 30.25, age="Y_GE18"),
    ]
    files = open_sdg.build(rows, names, open_sdg.proxy_indicators(SEEDS))
    assert set(files) == {("BGD", "3.8.1.lnob"), ("BGD", "10.3.1"), ("BGD", "16.b.1")}
    assert files[("BGD", "10.3.1")] == files[("BGD", "16.b.1")]
    for (_, indicator), file_rows in files.items():
        path = tmp_path / open_sdg.file_name(indicator)
        assert open_sdg.check(path) if open_sdg.write(file_rows, path) else False
    proxy = open_sdg.indicator_config(
        "3.8.1.lnob", "Bangladesh", open_sdg.proxy_indicators(SEEDS)["_L_LNOB_HLTH_ACS"][0], []
    )
    assert proxy["tags"] == [open_sdg.PROXY_TAG] and proxy["data_notice_class"] == "warning"
    assert proxy["indicator_number"] == "3.8.1.lnob" and "data_footnote" not in proxy
    repeated = open_sdg.indicator_config("10.3.1", "Bangladesh", None, ["16.b.1"])
    assert "16.b.1" in repeated["data_footnote"] and "tags" not in repeated


def test_the_open_sdg_checker_takes_four_part_ids_only(tmp_path):
    good = "Year,Value\n2026,1.5\n"
    for name in ("indicator_3-8-1-lnob.csv", "indicator_15-3-1-a.csv"):
        (tmp_path / name).write_text(good)
        assert open_sdg.check(tmp_path / name) == 1
    (tmp_path / "indicator_3-8-1-a-b.csv").write_text(good)
    with pytest.raises(open_sdg.OpenSdgError, match="four-part"):
        open_sdg.check(tmp_path / "indicator_3-8-1-a-b.csv")
