"""The nightly DAG end to end through `airflow dags test`, on the embedded warehouse.

Runs in order: a first night publishes; the same night again publishes identical marts; a night
whose delivery carries a code spelling the registry does not know fails its mart gate, and the
published schema stays exactly as it was.
"""

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from helpers import blocking_registry, csv_data_rows, lnob
from lnob.platform.config import settings
from lnob.publish import swap as publish
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = "2026-11-21"
#: the largest noise of the cell key method's ptable (README, dbt_project/seeds/sdc/lnob_ptable.csv)
PERTURBATION_D = 2


def _dags_test(night: str, env: dict | None = None):
    # No retries in tests: a failure must show at once, not after the retry delay.
    return lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        night,
        timeout=1200,
        env={"LNOB_TASK_RETRIES": "0", **(env or {})},
    )


def _summary(night: str) -> dict:
    return json.loads((settings().reports_dir / night / "summary.json").read_text())


def _published(db) -> dict:
    with db.cursor() as cur:
        cur.execute("""select series, sex, urbanisation, cust_breakdown, disability_status,
                              obs_value, n, obs_status
                       from marts.fct_sdg_observation""")
        return {r[:5]: r[5:] for r in cur.fetchall()}


@pytest.fixture(scope="module")
def first_night(published_night):
    """The first night on a clean warehouse and landing folder: the session's published night
    (conftest, 4,000 persons, seed 42), restored for this module; the run's process."""
    assert published_night.night == NIGHT
    return published_night.run


def test_first_night_publishes_the_sample(first_night, db):
    assert first_night.returncode == 0, first_night.stdout[-5000:] + first_night.stderr[-5000:]
    s = _summary(NIGHT)
    assert s["complete"] and s["published_tonight"]
    (vn,) = (settings().landing_dir / "actionaid_vietnam").glob(f"{NIGHT}/*.csv")
    assert s["sources"]["aavn_household_survey"]["rows_loaded"] == csv_data_rows(vn)
    # every source of the night came in, whatever its format, and nothing was quarantined
    assert set(s["sources"]) == set(sample.ALL_SOURCES)
    assert all(v["rows_loaded"] > 0 and v["quarantined"] == 0 for v in s["sources"].values()), s["sources"]
    assert {g["outcome"] for g in s["gates"]} == {"passed"}
    with db.cursor() as cur:
        cur.execute("""select source_type, series, count(distinct ref_area), count(*)
                       from marts.fct_sdg_observation group by 1, 2""")
        coverage = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
    # every community series of the issue, and official observations from every official source
    assert {series for kind, series in coverage if kind == "community"} == set(COMMUNITY_SERIES)
    with db.cursor() as cur:
        cur.execute("select distinct partners from marts.fct_sdg_observation where source_type = 'official'")
        assert {r[0] for r in cur.fetchall()} == {"un_sdg_database", "knbs_kenya", "statcan_canada"}
    # every published mart is there and not empty, except the testimonies: nobody reviewed one yet,
    # so none is published (lnob.transform.voices; tests/test_voices*.py publish them after review)
    assert set(s["published_tables"]) >= {
        "fct_sdg_observation",
        "fct_lnob_gap",
        "fct_evidence_map",
        "fct_voices",
        "dim_indicator",
        "dim_geography",
        "dim_partner",
    }
    assert s["published_tables"]["fct_voices"] == 0
    assert all(n > 0 for t, n in s["published_tables"].items() if t != "fct_voices"), s["published_tables"]
    with db.cursor() as cur:
        cur.execute("select state, count(*) from lnob_meta.testimony_review group by 1")
        states = dict(cur.fetchall())
    assert set(states) == {"pending"} and states["pending"] > 0, states


COMMUNITY_SERIES = [
    "SH_XPD_EARN10",
    "SH_XPD_EARN25",
    "SI_POV_NAHC",
    "SG_REG_BRTH",
    "SH_H2O_SAFE",
    "VC_VOV_GDSD",
    "_L_LNOB_HLTH_ACS",
]


def _published_value(db, series: str, ref_area: str, **breakdown) -> tuple:
    # the age of a series' whole universe: children under 5 for birth registration, adults for
    # discrimination, everyone otherwise (the age-group cells, e.g. Y0T4 of a household series, are
    # breakdowns, not the total)
    universe_age = {"SG_REG_BRTH": "Y0T4", "VC_VOV_GDSD": "Y_GE15"}.get(series, "_T")
    dims = {
        "sex": "_T",
        "age": universe_age,
        "urbanisation": "_T",
        "cust_breakdown": "_T",
        "composite_breakdown": "_T",
        "disability_status": "_T",
        **breakdown,
    }
    where = " and ".join(f"{k} = %({k})s" for k in dims)
    with db.cursor() as cur:
        cur.execute(
            f"""select obs_value, lower_bound, upper_bound, n, obs_status
                        from marts.fct_sdg_observation
                        where source_type = 'community' and series = %(series)s
                          and ref_area = %(ref_area)s and {where}""",
            {"series": series, "ref_area": ref_area, **dims},
        )
        rows = cur.fetchall()
    assert len(rows) == 1, (series, ref_area, breakdown, rows)
    return rows[0]


def test_weighted_indicator_matches_an_independent_computation(first_night, db):
    """Viet Nam, ethnic minorities, safely managed water: computed here from the partner's CSV with
    the standard library (ethnic groups and answers read as a person would), against the mart."""
    (path,) = (settings().landing_dir / "actionaid_vietnam").glob(f"{NIGHT}/*.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = {r["respondent_id"]: r for r in csv.DictReader(fh)}  # a duplicate row counts once
    sum_w = sum_wy = 0.0
    n = y = 0
    for r in rows.values():
        if r["ethnicity"].strip().lower() in ("kinh", "hoa"):  # the majority groups
            continue
        answer = r["safe_water"].strip().lower()
        if answer not in ("yes", "1", "no", "0"):  # don't know: not a response
            continue
        w = float(r["weight"])
        sum_w += w
        sum_wy += w * (answer in ("yes", "1"))
        n += 1
        y += answer in ("yes", "1")
    value, lower, upper, n_mart, status = _published_value(db, "SH_H2O_SAFE", "704", cust_breakdown="C01")
    # Published counts carry the cell key perturbation (README: at most D = 2 per count; the
    # weighted sums scaled by published / true count): n within D, and the value is the weighted
    # proportion with sum(w y) scaled by y'/y for a published numerator y' within D of y.
    assert status == "G" and abs(n_mart - n) <= PERTURBATION_D
    assert any(
        value == pytest.approx(100 * (sum_wy * (y + e) / y) / (sum_w * n_mart / n), abs=0.005)
        for e in range(-PERTURBATION_D, PERTURBATION_D + 1)
    )
    assert lower < value < upper


def test_household_health_spending_matches_an_independent_computation(first_night, db):
    """Bangladesh, persons in households spending more than 10% of consumption on health
    (SH_XPD_EARN10), computed from the KoboToolbox pages: the latest version of each submission
    unless the partner's reviewers rejected it (`_validation_status`), every roster member counted."""
    latest: dict = {}
    for page in sorted((settings().landing_dir / "brac_bangladesh").glob(f"{NIGHT}/submissions_page-*.json")):
        for sub in json.loads(page.read_text())["results"]:
            if sub["_id"] not in latest or sub["_submission_time"] > latest[sub["_id"]]["_submission_time"]:
                latest[sub["_id"]] = sub
    n = numerator = 0
    for sub in latest.values():
        if (sub.get("_validation_status") or {}).get("uid") == "validation_status_not_approved":
            continue
        consumption = float(sub["group_exp/consumption_month_bdt"])
        spending = float(sub.get("group_exp/health_spending_12m_bdt") or 0)
        members = len(sub["hh_roster"])
        n += members
        numerator += members * (spending / (12 * consumption) > 0.10)
    value, _, _, n_mart, _ = _published_value(db, "SH_XPD_EARN10", "50")
    # perturbed counts (README, cell key method): n and the numerator each within D = 2
    assert abs(n_mart - n) <= PERTURBATION_D
    assert any(
        value == pytest.approx(100 * (numerator + e) / n_mart, abs=0.005)
        for e in range(-PERTURBATION_D, PERTURBATION_D + 1)
    )


def test_no_identifier_reaches_the_published_schema(first_night, db):
    """The registry says what identifies (identifier and pseudonymised fields, by their names and
    the partners' own): no such column in marts, staging or intermediate, and no published value
    equal to one delivered in them."""
    from lnob import registry
    from privacy import identifier_names, published_identifier_leaks

    reg = registry.load()
    names = identifier_names(reg)
    assert {
        "respondent_id",
        "household_id",
        "respondent_name",
        "phone",
        "person_id",
        "gps",
        "head_name",
        "person_name",
        "recorded_by",
    } <= names
    with db.cursor() as cur:
        cur.execute("""select table_schema, table_name, column_name from information_schema.columns
                       where table_schema in ('marts', 'staging', 'intermediate')""")
        columns = cur.fetchall()
        assert [c for c in columns if c[2].lower() in names] == []
        assert published_identifier_leaks(cur, reg, "marts") == []


def test_the_bi_reader_reads_every_published_mart_and_nothing_else(first_night, warehouse_url):
    """Logged in as lnob_bi_reader (the roles the night created): every table and view of marts
    reads; raw, staging, intermediate and the ledger do not."""
    import psycopg2
    from lnob.platform import roles

    conn = psycopg2.connect(roles.reader_url(warehouse_url))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
        )
        published = dict(cur.fetchall())
        assert published.get("bi_sdg_observation") == "VIEW" and "fct_sdg_observation" in published
        for table in published:
            cur.execute(f"select count(*) from marts.{table}")
            # testimonies wait for review (lnob.transform.voices): the reader reads an empty fct_voices
            assert (cur.fetchone()[0] > 0) == (table != "fct_voices"), table
        cur.execute("select count(*) from marts.bi_sdg_observation where area_name is null")
        assert cur.fetchone()[0] == 0
        for forbidden in (
            "raw.aavn_household_survey",
            "staging.stg_aavn_household_survey__persons",
            "intermediate.int_persons_harmonised",
            "lnob_meta.delivery_ledger",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"select * from {forbidden} limit 1")
    conn.close()


def test_exports_read_back(first_night):
    s = _summary(NIGHT)
    sdmx = s["exports"]["files"]["sdg_observations.sdmx.csv"]
    with open(sdmx["path"], encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sdmx["rows"] > 100
    # SDMX-CSV 2.0 of the SDG structure as the partnership extends it (tests/test_exports.py)
    assert rows[0]["STRUCTURE"] == "dataflow" and rows[0]["STRUCTURE_ID"] == "LNOB:DF_SDG_LNOB(1.0)"
    assert {"lnob_structure.xml", "sdg_observations.sdmx.xml"} <= set(s["exports"]["files"])


def _audit_copy_of_marts(db) -> None:
    """marts_audit as an exact copy of the published marts (what a night identical to the last
    would build), for a test to spoil one thing in."""
    with db.cursor() as cur:
        cur.execute("drop schema if exists marts_audit cascade")
        cur.execute("create schema marts_audit")
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts'")
        for (table,) in cur.fetchall():  # the BI view copied as a table: what the tests read
            cur.execute(f"create table marts_audit.{table} as table marts.{table}")
    from lnob.platform import roles

    roles.ensure(db)  # what dbt builds belongs to lnob_transformer, which runs the gate


def _mart_gate_failures(db) -> str:
    from lnob import pipeline

    with pytest.raises(pipeline.GateFailed) as failed:
        pipeline.gate_marts(settings_url(db), "test-gate")
    return str(failed.value)


def _rule_line(message: str, column: str, rule: str) -> bool:
    """Whether one line of the gate's message names the rule, its column and one failing row."""
    return any(
        column in line and f'"{rule} (' in line and "unexpected=1 " in line for line in message.splitlines()
    )


def settings_url(db) -> str:
    from lnob.platform import warehouse

    return warehouse.url()


def test_an_unchanged_night_passes_the_mart_gate(first_night, db):
    from lnob import pipeline

    _audit_copy_of_marts(db)
    try:
        assert pipeline.gate_marts(settings_url(db), "test-gate")["dbt_tests"] == "passed"
    finally:
        with db.cursor() as cur:
            cur.execute("drop schema marts_audit cascade")


def test_a_bad_mart_value_fails_the_gate_and_data_docs_show_it(first_night, db):
    from lnob.quality import gates

    before = publish.schema_checksum(db)
    docs = Path(gates.data_docs_index())
    docs_before = docs.stat().st_mtime if docs.exists() else 0
    _audit_copy_of_marts(db)
    try:
        with db.cursor() as cur:
            cur.execute("""update marts_audit.fct_sdg_observation set obs_value = 150
                           where ctid = (select ctid from marts_audit.fct_sdg_observation
                                         where unit_measure = 'PT' and obs_value is not null limit 1)""")
        message = _mart_gate_failures(db)
        assert "percentages lie in 0..100" in message and "fct_sdg_observation" in message
        assert docs.stat().st_mtime > docs_before  # Data Docs rebuilt with the failed validation
        assert publish.schema_checksum(db) == before
    finally:
        with db.cursor() as cur:
            cur.execute("drop schema marts_audit cascade")


def test_a_mart_shrinking_beyond_the_band_fails_the_gate(first_night, db):
    _audit_copy_of_marts(db)
    try:
        with db.cursor() as cur:
            cur.execute("delete from marts_audit.fct_lnob_gap where random() < 0.8")  # a join gone wrong
        message = _mart_gate_failures(db)
        assert "fct_lnob_gap: row count within LNOB_ROW_COUNT_BAND" in message
    finally:
        with db.cursor() as cur:
            cur.execute("drop schema marts_audit cascade")


def test_an_implausible_person_fails_the_persons_suite(first_night, db):
    _audit_copy_of_marts(db)
    with db.cursor() as cur:
        cur.execute("""select source_id, record_key, age, wg_seeing, harmonised_at from intermediate.int_persons_harmonised
                       where age >= 5 and wg_seeing = 1 limit 1""")
        source_id, record_key, age, wg, harmonised_at = cur.fetchone()
        # harmonised again tonight (as dbt would: a new version replaces the row), implausibly
        cur.execute(
            """update intermediate.int_persons_harmonised set age = 150, wg_seeing = 7, harmonised_at = now()
                       where source_id = %s and record_key = %s""",
            (source_id, record_key),
        )
    try:
        message = _mart_gate_failures(db)
        assert "persons" in message or "int_persons_harmonised" in message
        # one merged expectation, read back rule by rule (ADR 8): each rule named with its column
        assert _rule_line(message, "(age)", "between 0 and 110")
        assert _rule_line(message, "(wg_seeing)", "a Washington Group answer is 1..4")
    finally:
        with db.cursor() as cur:
            cur.execute(
                """update intermediate.int_persons_harmonised set age = %s, wg_seeing = %s, harmonised_at = %s
                           where source_id = %s and record_key = %s""",
                (age, wg, harmonised_at, source_id, record_key),
            )
            cur.execute("drop schema marts_audit cascade")


def test_the_persons_suite_validates_what_was_harmonised_since_it_last_passed(first_night, db):
    """The night that passed recorded how far its persons were validated; a rebuilt persons table
    (a full refresh: a new relation) is validated whole again, so an implausible row harmonised on an
    earlier night is caught then."""
    with db.cursor() as cur:
        cur.execute("""select w.relation_oid = 'intermediate.int_persons_harmonised'::regclass::oid,
                              w.validated_through = (select max(harmonised_at) from intermediate.int_persons_harmonised)
                       from lnob_meta.persons_gate as w""")
        assert cur.fetchall() == [(True, True)]
        cur.execute("""select count(*) from intermediate.int_persons_harmonised
                       where harmonised_at > (select validated_through from lnob_meta.persons_gate)""")
        assert cur.fetchone()[0] == 0  # nothing left to validate after a night that passed
    _audit_copy_of_marts(db)
    with db.cursor() as cur:
        cur.execute("alter table intermediate.int_persons_harmonised rename to int_persons_harmonised__kept")
        cur.execute("""create table intermediate.int_persons_harmonised as
                       select * from intermediate.int_persons_harmonised__kept""")
        cur.execute("""update intermediate.int_persons_harmonised set age = 150
                       where ctid = (select min(ctid) from intermediate.int_persons_harmonised where age >= 5)""")
    from lnob.platform import roles

    roles.ensure(db)
    try:
        message = _mart_gate_failures(db)
        assert _rule_line(message, "(age)", "between 0 and 110")
    finally:
        with db.cursor() as cur:
            cur.execute("drop table intermediate.int_persons_harmonised")
            cur.execute(
                "alter table intermediate.int_persons_harmonised__kept rename to int_persons_harmonised"
            )
            cur.execute("drop schema marts_audit cascade")


def test_same_night_again_is_idempotent(first_night, rerun_night, db):
    """The same night again through the DAG (the session's re-run, conftest: the published
    night's marts checksummed just before and just after it): nothing new, identical marts."""
    again, s_first = rerun_night.run, rerun_night.first_summary
    assert again.returncode == 0, again.stdout[-5000:]
    s = _summary(NIGHT)
    assert s["run_id"] != s_first["run_id"]
    assert s["extract"]["new"] == 0 and s["extract"]["already_loaded"] == sum(
        v["deliveries"] for v in s_first["sources"].values()
    )
    assert s["published_tables"] == s_first["published_tables"]
    assert rerun_night.checksum_after == rerun_night.checksum_before
    assert publish.schema_checksum(db) == rerun_night.checksum_before


def test_bad_deliveries_are_quarantined_and_every_other_source_loads(first_night, db):
    """A truncated XLSX, a CSV in the wrong encoding and a KoboToolbox page with a type break:
    each quarantined with its reason, every other source loads, and the night publishes."""
    night = "2026-11-23"
    landing = settings().landing_dir
    files = sample.generate(landing, persons=2000, seed=9, day=date.fromisoformat(night))
    by_name = {p.name: p for p in files}
    xlsx = by_name[f"VSO_Nepal_LNOB_{night}.xlsx"]
    xlsx.write_bytes(xlsx.read_bytes()[: xlsx.stat().st_size // 2])
    india = by_name[f"hotspot_members_{night}.csv"]
    india.write_bytes(
        india.read_text(encoding="utf-8").replace("Odisha", "Odisha – Koraput").encode("utf-16")
    )
    kobo = by_name["submissions_page-0001.json"]
    page = json.loads(kobo.read_text())
    page["results"][3]["hh_roster"][0]["hh_roster/age"] = "forty"
    kobo.write_text(json.dumps(page))

    result = _dags_test(night)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    s = _summary(night)
    assert s["published_tonight"] and s["complete"]
    bad = {"vso_np_household_survey": "unreadable_xlsx", "wnta_hotspot_survey": "wrong_encoding"}
    for source_id, kind in bad.items():
        assert s["sources"][source_id]["quarantined"] == 1, (source_id, s["sources"][source_id])
        kept = Path(s["sources"][source_id]["quarantine"][0])
        reason = json.loads(kept.with_name(kept.name + ".reason.json").read_text())
        assert reason["kind"] == kind and reason["source"] == source_id and reason["partner"]
    # the KoboToolbox type break is one submission's: it is quarantined alone, by its `_id`, and
    # the rest of its page loads
    brac = s["sources"]["brac_uhc_survey"]
    assert brac["quarantined"] == 0 and brac["rows_loaded"] > 0 and brac["submissions"]["quarantined"] == 1
    reason = json.loads(Path(brac["quarantine"][0] + ".reason.json").read_text())
    assert (
        reason["kind"] == "submission_quarantined"
        and reason["submission"] == f"_id {page['results'][3]['_id']}"
    )
    assert reason["errors"][0]["column"] == "hh_roster/age" and reason["errors"][0]["found"] == "forty"
    for source_id in ("aavn_household_survey", "aak_clm_survey", "plan_india_hotspot_survey", "aak_voices"):
        assert s["sources"][source_id]["rows_loaded"] > 0 and s["sources"][source_id]["quarantined"] == 0


def test_a_blocked_night_leaves_marts_exactly_as_they_were(first_night, db, tmp_path):
    """A source whose registry entry says `gate_policy: block` stops the night on an unmapped
    code (the default, `quarantine`, holds it back instead: tests/test_isolation.py); the cause is
    named, and the published schema stays exactly as it was."""
    before = publish.schema_checksum(db)
    night = "2026-11-22"
    (path,) = sample.generate(
        settings().landing_dir,
        persons=300,
        seed=5,
        day=date.fromisoformat(night),
        only=["aavn_household_survey"],
    )
    # A partner starts spelling sex in a way the registry does not map: the raw contract (text)
    # accepts it, the mart gates must not.
    text = path.read_text(encoding="utf-8-sig").replace(",female,", ",X,")
    path.write_text(text, encoding="utf-8-sig")
    registry = blocking_registry(tmp_path, "aavn_household_survey")
    result = _dags_test(night, env={"LNOB_REGISTRY": str(registry)})
    assert result.returncode != 0
    s = _summary(night)
    assert not s["published_tonight"] and not s["complete"]
    cause = " ".join(s["problems"])
    assert "aavn_household_survey" in cause and "sex" in cause and "UNMAPPED:X" in cause, s["problems"]
    assert "gate_policy: block" in cause
    assert publish.schema_checksum(db) == before
    with db.cursor() as cur:
        cur.execute("select count(*) from marts.fct_sdg_observation where sex like 'UNMAPPED%'")
        assert cur.fetchone()[0] == 0


def test_the_dag_refuses_to_run_on_an_invalid_registry(first_night, tmp_path):
    import yaml
    from lnob import registry

    doc = yaml.safe_load(registry.load().path.read_text())
    doc["sources"][4]["fields"][2]["type"] = "txet"
    bad = tmp_path / "registry.yml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = _dags_test("2026-11-24", env={"LNOB_REGISTRY": str(bad)})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{bad}: sources[4].fields[2].type: 'txet' is not one of" in output
    assert "AirflowFailException" in output  # failed at once, not retried
