"""SDMX exports of the published observations, written and read back with ``sdmx1`` and ``pysdmx``.

The IAEG-SDGs data structure (vendored in ``reference_data/sdmx``) has no codes for what the
partnership publishes beyond it: the first-level areas (ISO 3166-2) in REF_AREA, the
partnership's own series ``_L_LNOB_HLTH_ACS``, the series producers report beyond the vendored
list (national ``_L_<country>_...`` series, described as national in CL_SERIES, and newer global
ones, from the registry's ``national_series``), and the meaning of the custom breakdowns C01..C13
(CL_CUST_BREAKDOWN has C01..C99 only as "Custom code NN"). So, as national platforms extend the
SDG structure, each night's export writes its own structure message ``lnob_structure.xml``: the
agency ``LNOB`` maintains extended copies of CL_AREA, CL_SERIES and CL_CUST_BREAKDOWN (every
global code kept with its annotations, the LNOB codes added or named from the committed dbt
seeds, each added series annotated with the indicator it is filed under), a DSD
``LNOB:SDG_LNOB(1.0)`` identical to ``IAEG-SDGs:SDG(1.0)`` but for those three codelists, and
the dataflow ``LNOB:DF_SDG_LNOB(1.0)``. The structure message is valid against the SDMX 2.1
XSD (two things ``sdmx1`` writes are not: a ``urn`` on the header's sender and a
``TextFormat`` beside an ``Enumeration``; both are dropped after writing).

The data are written against it as SDMX-ML 2.1 structure-specific data and SDMX-CSV 2.0. The
SDMX-ML is series-keyed by default, as the SDG data-exchange files of national offices are and
as Open SDG's ``sdg-build`` (``InputSdmxMl_StructureSpecific``) reads them: one ``Series``
element per key of the fifteen non-time dimensions, carrying the attributes the DSD attaches to
those dimensions (UNIT_MEASURE, CUST_BREAKDOWN_LB), and one ``Obs`` per ``TIME_PERIOD`` with
OBS_VALUE and the attributes the DSD attaches to the observation (OBS_STATUS, UNIT_MULT,
NATURE, bounds, SOURCE_DETAIL, COMMENT_OBS); ``dimensionAtObservation="TIME_PERIOD"``. The flat
form (``dimensionAtObservation="AllDimensions"``, every dimension and attribute on the ``Obs``)
stays available: ``layout="flat"``, ``LNOB_SDMX_LAYOUT=flat`` or
``python -m lnob.publish.sdmx_export --layout flat``. A suppressed cell is an ``Obs`` with
``OBS_VALUE="NaN"`` and OBS_STATUS ``Q`` (a reader that expects a value on every observation,
as sdg-build does, still reads it).

Every data file is read back twice, against the structure message as a receiver would, and
compared with the mart: with ``sdmx1`` and with BIS's ``pysdmx`` (an independent parser, which
also validates the SDMX-ML against the SDMX 2.1 XSD). Every code must be in its codelist and
every observation must match the mart. In the SDMX-CSV, a text attribute that a spreadsheet
would evaluate as a formula is written (and expected back) with a leading ``'``
(:mod:`lnob.ingest.csv_safe`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from lnob.ingest import csv_safe
from lnob.platform.config import PUBLISHED_SCHEMA
from lnob.platform.errors import NotRetryable
from lnob.transform.reference import VENDORED_DIR

DSD_FILE = VENDORED_DIR / "sdmx" / "IAEG-SDGs_SDG_DSD.xml"
AGENCY = "LNOB"
AGENCY_NAME = "Leave No One Behind partnership (International Civil Society Centre)"
DSD_ID = "SDG_LNOB"
DATAFLOW_ID = "DF_SDG_LNOB"
VERSION = "1.0"
#: what the SDMX-CSV ``STRUCTURE_ID`` column and the SDMX-ML header name
DATAFLOW_REF = f"{AGENCY}:{DATAFLOW_ID}({VERSION})"

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
    "TIME_PERIOD",
]
#: attributes taken from the mart's columns of the same name (lower case)
MART_ATTRIBUTES = [
    "UNIT_MEASURE",
    "UNIT_MULT",
    "OBS_STATUS",
    "NATURE",
    "LOWER_BOUND",
    "UPPER_BOUND",
    "SOURCE_DETAIL",
    "COMMENT_OBS",
]
#: the DSD's label of a custom breakdown, filled from the LNOB groups for C01..C99 codes
LABEL_ATTRIBUTE = "CUST_BREAKDOWN_LB"
ATTRIBUTES = [*MART_ATTRIBUTES, LABEL_ATTRIBUTE]
NUMERIC_ATTRIBUTES = {"LOWER_BOUND", "UPPER_BOUND"}
#: how close a value read back must be to the mart's (the files carry the full double)
TOLERANCE = 1e-9
#: the SDMX-ML layouts: series-keyed (TIME_PERIOD at the observation, the default) and flat
SERIES_KEYED, FLAT = "series", "flat"
LAYOUTS = (SERIES_KEYED, FLAT)
TIME_DIMENSION = "TIME_PERIOD"
SERIES_DIMENSIONS = [d for d in DIMENSIONS if d != TIME_DIMENSION]


class ExportError(NotRetryable, RuntimeError):
    """An export does not hold what the mart holds, or does not fit its structure."""


@dataclass(frozen=True)
class Extensions:
    """What the partnership adds to the SDG codelists, from the committed dbt seeds."""

    areas: dict[str, str]  # ISO 3166-2 code -> name (CL_AREA)
    series: dict[str, str]  # series code -> name (CL_SERIES)
    custom_breakdowns: dict[str, str]  # C01.. -> label (CL_CUST_BREAKDOWN)
    national_series: dict[str, str] = field(default_factory=dict)  # national series -> country ISO3
    #: the indicators an added series is filed under (CL_SERIES annotations ``Indicator``) and
    #: their titles: for the partnership's own series, the Open SDG id of its proxy indicator
    indicators: dict[str, list[str]] = field(default_factory=dict)
    indicator_titles: dict[str, str] = field(default_factory=dict)
    #: the partnership's own series -> what it is a proxy for (CL_SERIES description)
    proxies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_seeds(cls, seeds_dir: Path) -> Extensions:
        """``seeds_dir`` is ``dbt_project/seeds``. Series: the global series of
        ``reference/sdg_series.csv`` (the current SDG content constraints name series the 2019
        DSD's CL_SERIES predates, VC_VOV_GDSD among them), the partnership's own
        ``lnob/lnob_series.csv`` and the series the registry declares
        (``lnob/lnob_national_series.csv``: producers' national series, newer global ones)."""

        def read(name: str) -> list[dict]:
            with (seeds_dir / name).open(encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))

        from lnob.publish import open_sdg

        global_series, own = read("reference/sdg_series.csv"), read("lnob/lnob_series.csv")
        series = {r["series_code"]: r["series_name"] for r in global_series}
        series.update({r["series_code"]: r["series_name"] for r in own})
        declared = (
            read("lnob/lnob_national_series.csv")
            if (seeds_dir / "lnob/lnob_national_series.csv").exists()
            else []
        )
        series.update({r["series_code"]: r["series_name"] for r in declared})
        indicators = {
            r["series_code"]: [i.strip() for i in r["indicators"].split(",") if i.strip()]
            for r in [*global_series, *declared]
        }
        titles = {r["indicator_code"]: r["indicator_title"] for r in read("reference/sdg_indicators.csv")}
        proxies = open_sdg.proxy_indicators(seeds_dir)
        for code, filed in proxies.items():  # filed under its proxy indicator, not the official one
            indicators[code] = [p.indicator_number for p in filed]
            titles.update({p.indicator_number: p.title for p in filed})
        return cls(
            areas={r["area_code"]: r["area_name"] for r in read("lnob/lnob_areas.csv")},
            series=series,
            custom_breakdowns={
                r["cust_breakdown"]: r["label"] for r in read("lnob/lnob_custom_breakdowns.csv")
            },
            national_series={
                r["series_code"]: r["country_iso3"] for r in declared if r["scope"] == "national"
            },
            indicators=indicators,
            indicator_titles=titles,
            proxies={code: " ".join(p.description for p in filed) for code, filed in proxies.items()},
        )


def lnob_structure(ext: Extensions):
    """The SDG structure with the LNOB codelists, as an ``sdmx1`` StructureMessage whose
    dataflow ``DF_SDG_LNOB`` is what the data are written against."""
    import sdmx
    from sdmx.model import common, v21

    sdg = cast("sdmx.message.StructureMessage", sdmx.read_sdmx(DSD_FILE))
    dsd = sdg.structure["SDG"]
    agency = common.Agency(id=AGENCY, name=AGENCY_NAME)

    def extended(dim_id: str, codes: dict[str, str], what: str, descriptions: dict[str, str] | None = None):
        dim = dsd.dimensions.get(dim_id)
        base = dim.local_representation.enumerated
        cl = v21.Codelist(
            id=base.id,
            maintainer=agency,
            version=VERSION,
            is_final=True,
            is_external_reference=False,
            name=f"{base.name.localized_default()} (extended by the LNOB partnership)",
            description=f"{base.maintainer.id}:{base.id}({base.version}) with {what}",
        )
        for code in base:  # every global code kept (with its annotations: the indicators a
            # series serves, which sdg-build files it by); C01..C99 named after the LNOB groups
            kept = common.Code(id=code.id, name=codes.get(code.id, code.name.localized_default()))
            kept.annotations = [
                v21.Annotation(id=a.id, title=a.title, type=a.type, text=a.text) for a in code.annotations
            ]
            if code.description is not None and len(code.description.localizations):
                kept.description = code.description
            cl.append(kept)
        for code_id, name in codes.items():
            if code_id not in cl:
                extra: dict[str, Any] = (
                    {"description": descriptions[code_id]} if descriptions and code_id in descriptions else {}
                )
                added = common.Code(id=code_id, name=name, **extra)
                if dim_id == "SERIES":
                    added.annotations = _indicator_annotations(code_id, ext)
                cl.append(added)
        dim.local_representation = common.Representation(enumerated=cl)
        return base, cl

    replaced = [
        extended("REF_AREA", ext.areas, "first-level administrative areas (ISO 3166-2)"),
        extended(
            "SERIES",
            ext.series,
            "the series of the current SDG content constraints, "
            "the LNOB partnership's own series and producers' national series",
            {
                **{
                    code: f"National series of {iso3}: a national statistic reported by its producer, "
                    "not a global SDG series"
                    for code, iso3 in ext.national_series.items()
                },
                **ext.proxies,
            },
        ),
        extended(
            "CUST_BREAKDOWN",
            ext.custom_breakdowns,
            "the LNOB marginalised groups and their comparison groups as custom breakdowns",
        ),
    ]
    dsd.id, dsd.maintainer, dsd.version, dsd.urn = DSD_ID, agency, VERSION, None
    dsd.is_external_reference = False
    for component_list in (dsd.dimensions, dsd.attributes, dsd.measures):
        component_list.urn = None  # parsed URNs name IAEG-SDGs:SDG(1.0); rebuilt for SDG_LNOB
        for component in component_list:
            component.urn = None
    dsd.name = common.InternationalString(
        "SDG data structure (IAEG-SDGs:SDG(1.0)) with the LNOB partnership's codelist extensions"
    )
    dataflow = v21.DataflowDefinition(
        id=DATAFLOW_ID,
        maintainer=agency,
        version=VERSION,
        is_final=True,
        is_external_reference=False,
        structure=dsd,
        name="SDG indicators from community-driven data and official comparators (LNOB partnership)",
    )

    msg = sdmx.message.StructureMessage(
        header=sdmx.message.Header(id="LNOB_STRUCTURE", sender=agency, test=False)
    )
    for scheme in sdg.organisation_scheme.values():
        if AGENCY not in scheme:
            scheme.append(agency)
        msg.add(scheme)
    base_ids = {id(base) for base, _ in replaced}
    for cl in sdg.codelist.values():
        if id(cl) not in base_ids:
            msg.add(cl)
    for _, cl in replaced:
        msg.add(cl)
    for cs in sdg.concept_scheme.values():
        msg.add(cs)
    msg.add(dsd)
    msg.add(dataflow)
    return msg


def _indicator_annotations(series: str, ext: Extensions) -> list:
    """``Indicator`` and ``IndicatorTitle`` annotations, as the IAEG-SDGs CL_SERIES carries them,
    for a series the partnership adds (a newer global series, a national one, its own proxy)."""
    from sdmx.model import v21

    out = []
    for number in ext.indicators.get(series, []):
        out.append(v21.Annotation(title="Indicator", text=number))
        out.append(v21.Annotation(title="IndicatorTitle", text=ext.indicator_titles.get(number, number)))
    return out


def attachment(dsd) -> dict[str, str]:
    """Where the DSD attaches each attribute: ``"series"`` if it relates to dimensions that do not
    include TIME_PERIOD (the series key), ``"observation"`` if it relates to the primary measure
    (or to TIME_PERIOD). In the SDG DSD: UNIT_MEASURE, COMMENT_TS, GEO_INFO_*, CUST_BREAKDOWN_LB
    and DATA_LAST_UPDATE are series-level; OBS_STATUS, UNIT_MULT, NATURE, the bounds,
    SOURCE_DETAIL, COMMENT_OBS, TIME_DETAIL, TIME_COVERAGE and BASE_PER observation-level."""
    out = {}
    for attr in dsd.attributes:
        dims = getattr(attr.related_to, "dimensions", None)
        out[attr.id] = "series" if dims and TIME_DIMENSION not in {d.id for d in dims} else "observation"
    return out


def fetch_observations(conn) -> list[dict]:
    """Every published observation (suppressed ones too: OBS_STATUS Q and no value), keyed by
    the SDMX ids, in key order."""
    cols = [c.lower() for c in DIMENSIONS] + ["obs_value"] + [a.lower() for a in MART_ATTRIBUTES]
    with conn.cursor() as cur:
        cur.execute(
            f"select {', '.join(cols)} from {PUBLISHED_SCHEMA}.fct_sdg_observation "
            f"order by {', '.join(c.lower() for c in DIMENSIONS)}"
        )
        rows = [dict(zip([c.upper() for c in cols], rec, strict=True)) for rec in cur.fetchall()]
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        key = tuple(r[d] for d in DIMENSIONS)
        if key in seen:
            raise ExportError(
                f"marts.fct_sdg_observation has two observations with the SDMX key "
                f"{'.'.join(key)}: an SDMX data set cannot hold both"
            )
        seen[key] = i
    return rows


def _attribute_values(row: dict, ext: Extensions) -> dict[str, str]:
    values = {}
    for a in MART_ATTRIBUTES:
        v = row[a]
        if v is None or v == "":
            continue
        values[a] = repr(float(v)) if a in NUMERIC_ATTRIBUTES else str(v)
    label = ext.custom_breakdowns.get(row["CUST_BREAKDOWN"])
    if label:
        values[LABEL_ATTRIBUTE] = label
    return values


def data_message(rows: Iterable[dict], structure, ext: Extensions, layout: str = SERIES_KEYED):
    """The observations as one structure-specific data set of the LNOB dataflow: series-keyed
    (``Series`` per key of the non-time dimensions with its series-level attributes, ``Obs`` per
    TIME_PERIOD) or flat (one ``Obs`` per observation with its whole key and every attribute).
    A series-level attribute that differs between two observations of one series cannot be
    written series-keyed: ExportError names the series and the attribute."""
    import sdmx
    from sdmx.model import common, v21

    if layout not in LAYOUTS:
        raise ValueError(f"SDMX-ML layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    dataflow = structure.dataflow[DATAFLOW_ID]
    dsd = dataflow.structure
    measure = dsd.measures[0]
    attributes = {a.id: a for a in dsd.attributes}
    level = attachment(dsd)
    ds = v21.StructureSpecificDataSet(structured_by=dsd, described_by=dataflow)

    def observation(row: dict, key_dims: list[str], attrs: dict[str, str]):
        key = dsd.make_key(common.Key, {d: row[d] for d in key_dims})
        attached = {a: common.AttributeValue(value=v, value_for=attributes[a]) for a, v in attrs.items()}
        value = None if row["OBS_VALUE"] is None else float(row["OBS_VALUE"])
        return v21.Observation(dimension=key, value=value, value_for=measure, attached_attribute=attached)

    if layout == FLAT:
        ds.add_obs([observation(row, DIMENSIONS, _attribute_values(row, ext)) for row in rows])
        observation_dimension = common.AllDimensions
    else:
        series: dict[tuple, list[dict]] = {}
        for row in rows:
            series.setdefault(tuple(row[d] for d in SERIES_DIMENSIONS), []).append(row)
        for key, members in series.items():
            values = [_attribute_values(r, ext) for r in members]
            series_attrs = {}
            for a in {a for v in values for a in v if level[a] == "series"}:
                seen = {v.get(a) for v in values}
                if len(seen) > 1:
                    raise ExportError(
                        f"series {'.'.join(key)}: the series-level attribute {a} has "
                        f"{len(seen)} values ({', '.join(sorted(map(str, seen)))}) across "
                        "its periods; the DSD attaches it to the series, so it must be one"
                    )
                series_attrs[a] = seen.pop()
            sk = dsd.make_key(common.SeriesKey, dict(zip(SERIES_DIMENSIONS, key, strict=True)))
            for a, v in series_attrs.items():
                if v is not None:
                    sk.attrib[a] = common.AttributeValue(value=v, value_for=attributes[a])
            ds.add_obs(
                [
                    observation(r, [TIME_DIMENSION], {a: x for a, x in v.items() if level[a] != "series"})
                    for r, v in zip(members, values, strict=True)
                ],
                series_key=sk,
            )
        observation_dimension = dsd.dimensions.get(TIME_DIMENSION)
    return sdmx.message.DataMessage(
        header=sdmx.message.Header(id="LNOB_SDG_DATA", sender=common.Agency(id=AGENCY), test=False),
        data=[ds],
        dataflow=dataflow,
        observation_dimension=observation_dimension,
    )


def write_structure(structure, path: Path) -> None:
    """The structure message as ``sdmx1`` writes it, made valid against the SDMX 2.1 XSD: the
    header's sender loses its ``urn`` attribute, and a ``TextFormat`` that ``sdmx1`` writes beside
    an ``Enumeration`` (the XSD allows only ``EnumerationFormat`` there) is dropped: the
    codelist is the representation."""
    import sdmx
    from lxml import etree

    root = etree.fromstring(sdmx.to_xml(structure))
    for sender in root.iter("{*}Sender"):
        sender.attrib.pop("urn", None)
    for rep in root.iter("{*}LocalRepresentation"):
        if any(etree.QName(c).localname == "Enumeration" for c in rep):
            for c in [c for c in rep if etree.QName(c).localname == "TextFormat"]:
                rep.remove(c)
    path.write_bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True))


def write_xml(msg, path: Path) -> None:
    """SDMX-ML 2.1 structure-specific data. ``sdmx1`` writes ``dimensionAtObservation`` only for
    a single dimension, no ``namespace`` (which the XSD requires), an action as Python spells it
    and no OBS_VALUE for a missing value; so the header's ``dimensionAtObservation``
    (TIME_PERIOD, or ``AllDimensions`` for a flat data set: the 2.1 default is TIME_PERIOD), the
    structure-specific namespace (``...DataStructure=LNOB:SDG_LNOB(1.0):ObsLevelDim:<dim>``), the
    action ``Information`` and ``OBS_VALUE="NaN"`` on a suppressed observation are set here on
    what ``sdmx1`` wrote."""
    import sdmx
    from lxml import etree

    at_obs = (
        "AllDimensions" if msg.observation_dimension is sdmx.model.common.AllDimensions else TIME_DIMENSION
    )
    root = etree.fromstring(sdmx.to_xml(msg))
    for ref in root.iter("{*}Structure"):
        if ref.get("structureID"):
            ref.set("dimensionAtObservation", at_obs)
            ref.set(
                "namespace",
                f"urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure="
                f"{AGENCY}:{DSD_ID}({VERSION}):ObsLevelDim:{at_obs}",
            )
    for ds in root.iter("{*}DataSet"):
        ds.set("action", "Information")
    for obs in root.iter("{*}Obs"):
        if "OBS_VALUE" not in obs.attrib:
            obs.set("OBS_VALUE", "NaN")
    path.write_bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True))


#: SDMX-CSV columns holding numbers: written as they are (a negative value stays a number)
NUMERIC_COLUMNS = {"OBS_VALUE", *NUMERIC_ATTRIBUTES}


def write_csv(msg, path: Path) -> None:
    """SDMX-CSV 2.0 (STRUCTURE, STRUCTURE_ID, ACTION, the dimensions, OBS_VALUE, the
    observation attributes): the SDMX-CSV version ``sdmx1`` reads back. Text cells a spreadsheet
    would evaluate as a formula get a leading ``'`` (:mod:`lnob.ingest.csv_safe`): codes never start with
    one of those characters, so only free text (a group label, a source detail, a comment) can."""
    import pandas as pd
    import sdmx

    frame = cast(pd.DataFrame, sdmx.to_csv(msg.data[0], rtype=pd.DataFrame, attributes="o"))
    for column in frame.columns:
        if column not in NUMERIC_COLUMNS and not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(csv_safe.cell)
    frame.to_csv(path, index=False)


def read_structure(path: Path):
    """The dataflow of a written structure message (with its DSD and codelists)."""
    import sdmx

    try:
        structure = cast("sdmx.message.StructureMessage", sdmx.read_sdmx(path))
        return structure.dataflow[DATAFLOW_ID]
    except Exception as exc:  # noqa: BLE001 - any parse failure is a broken export
        raise ExportError(
            f"{path}: does not read back as an SDMX structure message with the dataflow {DATAFLOW_REF}: {exc}"
        ) from exc


def _number(value) -> float | None:
    """An OBS_VALUE as read: None for a missing value (absent, blank, or SDMX's ``NaN``)."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "nan", "NaN")):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def read_back(path: Path, dataflow) -> list[dict]:
    """The observations of an SDMX file as ``{dimension: code, OBS_VALUE: float | None,
    attribute: str}``, read with ``sdmx1`` against the structure ``dataflow``."""
    import sdmx

    try:
        msg = cast(
            "sdmx.message.DataMessage",
            sdmx.read_sdmx(path, structure=dataflow if path.suffix == ".csv" else dataflow.structure),
        )
    except Exception as exc:  # noqa: BLE001 - any parse failure is a broken export
        raise ExportError(f"{path}: does not read back as SDMX with {DATAFLOW_REF}: {exc}") from exc
    out = []
    for ds in msg.data:
        for obs in ds.obs:
            row: dict[str, str | float | None] = {k: str(v.value) for k, v in obs.key.values.items()}
            row["OBS_VALUE"] = _number(obs.value)
            for a, av in obs.attrib.items():
                v = str(av)
                if v not in ("", "nan", "None"):
                    row[a] = v
            out.append(row)
    return out


def read_back_pysdmx(path: Path, structure_path: Path) -> list[dict]:
    """The observations of an SDMX file, in the shape of :func:`read_back`, read with BIS's
    ``pysdmx`` (a parser independent of ``sdmx1``) against the structure message
    ``structure_path``. ``pysdmx`` validates SDMX-ML (data and structure) against the SDMX 2.1
    XSD first, so a file that breaks the schema fails here too."""
    import pandas as pd
    from pysdmx.io import get_datasets

    try:
        datasets = get_datasets(path, structure_path, validate=True)
    except Exception as exc:  # noqa: BLE001 - any parse or schema failure is a broken export
        raise ExportError(
            f"{path}: does not read back with pysdmx as SDMX with {DATAFLOW_REF}: {exc}"
        ) from exc
    out = []
    for ds in datasets:
        frame = ds.data
        for rec in frame.to_dict("records"):
            row: dict[str, str | float | None] = {}
            for column, v in rec.items():
                if column == "OBS_VALUE":
                    row[column] = None if v is None or pd.isna(v) else _number(v)
                elif v is None or pd.isna(v) or str(v) == "":
                    continue
                elif isinstance(v, float):
                    row[column] = repr(v)
                else:
                    row[column] = str(v)
            row.setdefault("OBS_VALUE", None)
            out.append(row)
    return out


def _codelists(dsd) -> dict[str, set[str]]:
    lists = {}
    for comp in [*dsd.dimensions, *dsd.attributes]:
        rep = comp.local_representation
        enum = getattr(rep, "enumerated", None) if rep else None
        if enum is not None:
            lists[comp.id] = {c.id for c in enum}
    return lists


READERS = ("sdmx1", "pysdmx")


def check(
    path: Path,
    dataflow,
    expected: list[dict],
    ext: Extensions,
    reader: str = "sdmx1",
    structure_path: Path | None = None,
) -> int:
    """Read ``path`` back with ``reader`` (``sdmx1`` against ``dataflow``, or ``pysdmx`` against
    the structure message ``structure_path``) and compare it with the mart's rows: the same
    number of observations, the same keys, every code in its codelist, the same values (within
    TOLERANCE) and the same attributes. Raise ExportError naming the file, the reader and the
    first difference."""
    if reader == "sdmx1":
        got = read_back(path, dataflow)
    elif reader == "pysdmx":
        if structure_path is None:
            raise ValueError("the pysdmx read-back needs the structure message's path")
        got = read_back_pysdmx(path, structure_path)
    else:
        raise ValueError(f"SDMX reader {reader!r}: expected one of {', '.join(READERS)}")
    name = f"{path} (read with {reader})"  # every message names the file and the reader
    if len(got) != len(expected):
        raise ExportError(f"{name}: {len(got)} observations read back, the mart has {len(expected)}")
    codelists = _codelists(dataflow.structure)
    by_key = {}
    for row in got:
        key = tuple(row.get(d, "") for d in DIMENSIONS)
        for comp, code in row.items():
            if comp in codelists and code not in codelists[comp]:
                raise ExportError(
                    f"{name}: observation {'.'.join(key)}: {comp} {code!r} is not in "
                    f"its codelist of {DATAFLOW_REF}"
                )
        by_key[key] = row
    for want in expected:
        key = tuple(str(want[d]) for d in DIMENSIONS)
        found = by_key.get(key)
        where = f"{name}: observation {'.'.join(key)}"
        if found is None:
            raise ExportError(f"{where} is in the mart but not in the file")
        a, b = found["OBS_VALUE"], want["OBS_VALUE"]
        if (a is None) != (b is None) or (a is not None and abs(a - float(b)) > TOLERANCE):
            raise ExportError(f"{where}: OBS_VALUE {a!r} read back, the mart has {b!r}")
        want_attrs = _attribute_values(want, ext)
        if path.suffix == ".csv":  # written for spreadsheets: formula triggers neutralised
            want_attrs = {
                a: v if a in NUMERIC_ATTRIBUTES else csv_safe.cell(v) for a, v in want_attrs.items()
            }
        for attr in ATTRIBUTES:
            x, y = found.get(attr), want_attrs.get(attr)
            same = (
                (x == y)
                if attr not in NUMERIC_ATTRIBUTES or x is None or y is None
                else abs(float(x) - float(y)) <= TOLERANCE
            )
            if not same:
                raise ExportError(f"{where}: {attr} {x!r} read back, the mart has {y!r}")
    return len(got)


def export(conn, out_dir: Path, seeds_dir: Path, layout: str = SERIES_KEYED) -> dict[str, dict]:
    """Write lnob_structure.xml, sdg_observations.sdmx.xml (series-keyed, or flat with
    ``layout="flat"``) and sdg_observations.sdmx.csv into ``out_dir`` and check each data file
    against the mart, read back with sdmx1 and with pysdmx; return what was written."""
    if layout not in LAYOUTS:
        raise ValueError(f"SDMX-ML layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    ext = Extensions.from_seeds(seeds_dir)
    rows = fetch_observations(conn)
    structure = lnob_structure(ext)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "lnob_structure.xml": out_dir / "lnob_structure.xml",
        "sdg_observations.sdmx.xml": out_dir / "sdg_observations.sdmx.xml",
        "sdg_observations.sdmx.csv": out_dir / "sdg_observations.sdmx.csv",
    }
    write_structure(structure, files["lnob_structure.xml"])
    write_xml(data_message(rows, structure, ext, layout), files["sdg_observations.sdmx.xml"])
    write_csv(
        data_message(rows, structure, ext, FLAT), files["sdg_observations.sdmx.csv"]
    )  # one row per observation
    dataflow = read_structure(files["lnob_structure.xml"])  # what a receiver would read
    out = {
        "lnob_structure.xml": {
            "path": str(files["lnob_structure.xml"]),
            "rows": 0,
            "format": "SDMX-ML 2.1 structure",
            "dataflow": DATAFLOW_REF,
        }
    }
    for name in ("sdg_observations.sdmx.xml", "sdg_observations.sdmx.csv"):
        counts = {
            reader: check(files[name], dataflow, rows, ext, reader, files["lnob_structure.xml"])
            for reader in READERS
        }
        xml = name.endswith(".xml")
        out[name] = {
            "path": str(files[name]),
            "rows": counts["sdmx1"],
            "dataflow": DATAFLOW_REF,
            "format": (
                f"SDMX-ML 2.1 structure-specific data, "
                f"{'series-keyed (TIME_PERIOD at the observation)' if layout == SERIES_KEYED else 'flat (AllDimensions)'}"
                if xml
                else "SDMX-CSV 2.0"
            ),
            "checked": "read back with sdmx1 and with pysdmx"
            + (" (XSD-validated)" if xml else "")
            + " and compared with the mart",
        }
        if xml:
            out[name]["layout"] = layout
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m lnob.publish.sdmx_export [--layout series|flat] [--out DIR]``: write and check the SDMX
    exports of what ``marts`` holds now, as the BI reader (by default into
    ``<LNOB_EXPORTS_DIR>/sdmx-<layout>``): how to get the flat form on demand."""
    import argparse

    from lnob.platform import roles, warehouse
    from lnob.platform.config import settings

    cfg = settings()
    p = argparse.ArgumentParser(prog="python -m lnob.publish.sdmx_export", description=main.__doc__)
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=cfg.sdmx_layout,
        help="series: Series elements, TIME_PERIOD at the observation (default); "
        "flat: dimensionAtObservation=AllDimensions",
    )
    p.add_argument("--out", type=Path, help="output folder")
    args = p.parse_args(argv)
    out = args.out or cfg.exports_dir / f"sdmx-{args.layout}"
    with warehouse.connect(roles.step_url(warehouse.url(cfg), roles.READER)) as conn:
        written = export(conn, out, cfg.dbt_project_dir / "seeds", args.layout)
    for info in written.values():
        print(f"{info['path']}  {info['rows']:>8,d} observations  {info.get('checked', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
