"""Only publish changes `marts` and `marts_previous` (issue 12).

dbt reloads a changed seed with `drop table ... cascade` (`+full_refresh` in dbt_project.yml), and
PostgreSQL drops every view reading the seed with it: a published view that read
`reference.lnob_custom_breakdowns` vanished from `marts` after a registry change, and stayed gone
after the failed night. Here two nights are published through the pipeline's stage functions
(real dbt, GX and PostgreSQL), every object of `marts` and `marts_previous` is fingerprinted
(identity, columns, grants, view definition, contents), the registry changes (a group label: the
seeds reload with a full refresh), and a third night fails its mart gate. Every object must still
be there, the same object, byte for byte.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
from helpers import clean_warehouse
from lnob import pipeline
from lnob.platform.config import settings
from lnob.publish import swap as publish
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHTS = ["2026-10-05", "2026-10-06", "2026-10-07"]
SEEDS = settings().dbt_project_dir / "seeds" / "lnob"


def _run_night(url: str, night: str, spoil=None) -> None:
    """One night as the DAG runs it: extract, load and gate each delivery, transform, mart gate,
    publish. ``spoil(cursor)`` edits the audit schema before the gate."""
    run_id = f"test-publish-only-{night}"
    day = date.fromisoformat(night)
    for delivery in pipeline.extract(url, run_id, day):
        pipeline.gate_raw(url, run_id, pipeline.load_raw(url, run_id, delivery))
    pipeline.transform_stage(url, run_id)
    if spoil:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            spoil(cur)
    pipeline.gate_marts(url, run_id)
    pipeline.publish_stage(url, run_id)


def _fingerprints(conn, schema: str) -> dict[str, str]:
    """Every relation of ``schema`` (tables, views, sequences, indexes): its oid (a dropped and
    recreated object is another object), kind, owner, grants, columns with their types, its
    definition (views, indexes) and an md5 over its rows in a stable order."""
    out = {}
    with conn.cursor() as cur:
        cur.execute(
            """select c.oid, c.relname, c.relkind, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, ''),
                              (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                                 order by a.attnum)
                               from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
                              case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid)
                                   when c.relkind = 'i' then pg_get_indexdef(c.oid) else '' end
                       from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       where n.nspname = %s order by c.relname""",
            (schema,),
        )
        for oid, name, kind, owner, acl, columns, definition in cur.fetchall():
            rows = ""
            if kind in ("r", "p", "v", "m"):
                cur.execute(
                    f"select count(*), md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), '')) "
                    f'from {schema}."{name}" as t'
                )
                rows = "{} rows, md5 {}".format(*cur.fetchone())
            out[f"{schema}.{name}"] = (
                f"oid {oid} | {kind} | {owner} | {acl} | {columns} | {definition} | {rows}"
            )
    conn.rollback()
    return out


@pytest.fixture(scope="module")
def published(warehouse_url):
    """Two nights published (so `marts_previous` holds one, views included); the seed files are
    restored afterwards (the registry change below rewrites them)."""
    clean_warehouse(warehouse_url, landing=True)
    kept = {p: p.read_bytes() for p in SEEDS.glob("*.csv")}
    sample.generate(settings().landing_dir, persons=1500, seed=7, day=date.fromisoformat(NIGHTS[0]))
    _run_night(warehouse_url, NIGHTS[0])
    sample.generate(
        settings().landing_dir,
        persons=300,
        seed=8,
        day=date.fromisoformat(NIGHTS[1]),
        only=["aavn_household_survey"],
    )
    _run_night(warehouse_url, NIGHTS[1])
    yield warehouse_url
    for path, data in kept.items():
        path.write_bytes(data)


def test_published_objects_depend_on_nothing_outside_their_schema(published, db):
    with db.cursor() as cur:
        for schema in ("marts", "marts_previous"):
            assert publish.outside_dependencies(cur, schema) == [], schema
        cur.execute("select count(*) from marts.bi_sdg_observation where cust_breakdown_label is not null")
        assert cur.fetchone()[0] > 0  # the BI view still labels the groups, from marts alone


def test_a_registry_change_and_a_failed_night_leave_every_published_object_as_it_was(
    published, db, tmp_path, monkeypatch
):
    before = {**_fingerprints(db, "marts"), **_fingerprints(db, "marts_previous")}
    assert "marts.bi_sdg_observation" in before and "marts_previous.bi_sdg_observation" in before
    assert sum(1 for k in before if k.startswith("marts_previous.")) >= 8

    # The registry renames a group: its seed is rewritten, and dbt reloads the seeds (full refresh).
    text = settings().registry_path.read_text(encoding="utf-8")
    changed = text.replace("label: Ethnic minority,", "label: Ethnic minority (renamed),")
    assert changed != text
    registry_copy = tmp_path / "registry.yml"
    registry_copy.write_text(changed, encoding="utf-8")
    monkeypatch.setenv("LNOB_REGISTRY", str(registry_copy))

    def spoil(cur):  # and tonight's marts fail their gate
        cur.execute("""update marts_audit.fct_sdg_observation set obs_value = 150
                       where ctid = (select ctid from marts_audit.fct_sdg_observation
                                     where unit_measure = 'PT' and obs_value is not null limit 1)""")

    sample.generate(
        settings().landing_dir,
        persons=300,
        seed=9,
        day=date.fromisoformat(NIGHTS[2]),
        only=["aavn_household_survey"],
    )
    with pytest.raises(pipeline.GateFailed):
        _run_night(published, NIGHTS[2], spoil)
    assert "Ethnic minority (renamed)" in (SEEDS / "lnob_custom_breakdowns.csv").read_text()
    with db.cursor() as cur:  # the seeds were reloaded tonight
        cur.execute("select label from reference.lnob_custom_breakdowns where cust_breakdown = 'C01'")
        assert cur.fetchone()[0] == "Ethnic minority (renamed)"
    db.rollback()

    after = {**_fingerprints(db, "marts"), **_fingerprints(db, "marts_previous")}
    assert sorted(after) == sorted(before), "objects dropped or added outside publish"
    changed_objects = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed_objects, changed_objects


# --- CSV exports neutralise formula triggers (issue 14) -------------------------------------

HYPERLINK = '=HYPERLINK("http://x","y")'
CMD = "+cmd|' /C calc'!A0"


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_formula_triggers_in_a_partner_label_never_start_a_csv_cell(published, db, tmp_path, monkeypatch):
    """A partner's group labels carry spreadsheet formulas; a night publishes and exports them. No
    CSV cell starts with a formula trigger unless it is a number (negative differences stay
    numbers), the planted labels appear with a leading quote in the mart CSVs, the SDMX-CSV and
    the Open SDG files, and every export still passes its read-back check (sdmx1, Open SDG rules)."""
    import csv

    text = settings().registry_path.read_text(encoding="utf-8")
    planted = text.replace("label: Ethnic minority,", 'label: \'=HYPERLINK("http://x","y")\',').replace(
        "label: Scheduled Caste (Dalit),", "label: \"+cmd|' /C calc'!A0\","
    )
    assert planted.count("HYPERLINK") == 1 and planted.count("calc") == 1
    registry_copy = tmp_path / "registry.yml"
    registry_copy.write_text(planted, encoding="utf-8")
    monkeypatch.setenv("LNOB_REGISTRY", str(registry_copy))

    night = "2026-10-08"
    sample.generate(
        settings().landing_dir,
        persons=300,
        seed=10,
        day=date.fromisoformat(night),
        only=["aavn_household_survey"],
    )
    _run_night(published, night)
    files = pipeline.export_stage(published, f"test-publish-only-{night}", date.fromisoformat(night))

    found: dict[str, set[str]] = {}
    negatives = 0
    for name, info in files.items():
        if not name.endswith(".csv"):
            continue
        with open(info["path"], encoding="utf-8", newline="") as fh:
            for line, record in enumerate(csv.reader(fh), start=1):
                for cell in record:
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                        assert _number(cell), f"{name} line {line}: a spreadsheet would evaluate {cell!r}"
                        negatives += cell.startswith("-")
                    for bad in (HYPERLINK, CMD):
                        if bad in cell:
                            assert cell == "'" + bad, f"{name} line {line}: {cell!r}"
                            found.setdefault(bad, set()).add(name.split("/")[0] if "/" in name else name)
    assert negatives > 0  # numbers are not touched: negative gaps are still negative numbers
    for bad in (HYPERLINK, CMD):
        assert {"marts", "sdg_observations.sdmx.csv"} <= found.get(bad, set()), (bad, found)
    assert "open_sdg" in found[HYPERLINK] | found[CMD], found
    # Parquet (a machine format) keeps the text as the partner gave it
    import pyarrow.parquet as pq

    labels = pq.read_table(files["marts/dim_custom_breakdown.parquet"]["path"]).column("label").to_pylist()
    assert HYPERLINK in labels and CMD in labels
