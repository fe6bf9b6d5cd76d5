"""The HTML run report, rendered in headless Chromium (Debian's package, installed by the set-up).

One real night through `airflow dags test` writes the report; the browser then checks what a data
engineer would look at: a chart per series with one bar per group, rest of the sample and official
value (each drawn, with a width proportional to its value), the late partner flagged as stale,
the gates, and a screenshot that is neither blank nor tiny. A rendered page built from hostile
text (partner names, reasons) shows that text literally.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from browser import ensure_chromium, launch, png_stats
from conftest import clean_warehouse, lnob
from lnob import report, sample
from lnob.config import settings

NIGHT = "2026-11-21"
# Plan India uploads two days late (lnob.sample): on the night its newest delivery is for NIGHT - 2,
# one day more than its daily cadence allows.
STALE_PARTNER = "plan_india"
RED, GREY, BLUE = "#c0392b", "#7f8c8d", "#2471a3"  # group, rest of sample, official (report.CSS)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium (installed with apt when missing; a clear failure if impossible)."""
    from playwright.sync_api import sync_playwright

    ensure_chromium()
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def night(warehouse_url):
    """A clean warehouse and landing folder, then one night through the DAG; the report it wrote."""


    clean_warehouse(warehouse_url, landing=True)
    sample.generate(settings().landing_dir, persons=4000, seed=42, day=date.fromisoformat(NIGHT))
    done = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=1200, env={"LNOB_TASK_RETRIES": "0"})
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    summary = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    return summary


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1200, "height": 900})
    yield p
    p.close()


def _gap_rows(db) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute("""select series, ref_area, group_code, group_value, rest_value, official_value
                       from marts.mart_lnob_gap where ref_area_level = 'country'""")
        return cur.fetchall()


@pytest.mark.integration
def test_the_night_writes_the_report(night):
    reports = settings().reports_dir
    page = reports / NIGHT / "report.html"
    assert night["report_html"] == str(page) and page.exists()
    assert (reports / "latest.html").exists()
    html = page.read_text()
    assert "https://" not in html and "<script" not in html  # self-contained: works offline
    assert (reports / "dbt_docs" / "index.html").stat().st_size > 100_000  # dbt docs, generated
    assert f"Run report:  {page}" in (reports / NIGHT / "summary.txt").read_text()


@pytest.mark.integration
def test_charts_are_drawn_in_chromium(night, page, db, session_dir):
    rows = _gap_rows(db)
    assert rows, "the night published no LNOB gap"
    page.goto((settings().reports_dir / NIGHT / "report.html").as_uri())
    charts = page.locator("svg.gap-chart")
    assert charts.count() == len({r[0] for r in rows})
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 400 and box["height"] > 40
    expected_bars = 0
    for series, area, group, *values in rows:
        row = page.locator(f'g.gap-row[data-series="{series}"][data-area="{area}"][data-group="{group}"]')
        assert row.count() == 1, (series, area, group)
        bars = {}
        for kind, value in zip(("group", "rest", "official"), values, strict=True):
            bar = row.locator(f"rect.bar-{kind}")
            assert bar.count() == (value is not None), (series, area, group, kind)
            if value is not None:
                box = bar.bounding_box()
                assert box and box["width"] > 0 and box["height"] > 0, (series, area, group, kind)
                bars[kind] = (value, box["width"])
                expected_bars += 1
        # each bar's length is proportional to its value (same axis for the three)
        if "group" in bars and "rest" in bars and min(bars["group"][0], bars["rest"][0]) > 5:
            (gv, gw), (rv, rw) = bars["group"], bars["rest"]
            assert abs(gw / rw - gv / rv) < 0.05, (series, area, group, bars)
    assert page.locator("svg.gap-chart rect.bar").count() == expected_bars
    assert page.locator("svg.gap-chart path.ci").count() > 0  # the intervals

    # screenshots: the whole page and one chart, decoded by the browser: not blank, bars in colour
    shot = page.screenshot(path=str(session_dir / "report.png"), full_page=True)
    assert len(shot) > 50_000
    stats = png_stats(page, shot)
    assert stats["width"] >= 1000 and stats["height"] > 2000
    assert stats["distinct"] > 50 and stats["white"] < 0.95
    chart = png_stats(page, charts.first.screenshot())
    assert all(chart["counts"].get(c, 0) > 200 for c in (RED, GREY)), chart["distinct"]


@pytest.mark.integration
def test_stale_partner_is_flagged(night, page):
    page.goto((settings().reports_dir / NIGHT / "report.html").as_uri())
    stale = page.locator(f'#freshness tr[data-partner="{STALE_PARTNER}"]')
    assert stale.get_attribute("data-status") == "stale"
    assert "STALE" in stale.inner_text() and "overdue" in stale.inner_text()
    flagged = page.locator('#freshness tr[data-status="stale"]')
    assert [flagged.nth(i).get_attribute("data-partner") for i in range(flagged.count())] == [STALE_PARTNER]
    assert page.locator('#freshness tr[data-partner="wnta_india"]').get_attribute("data-status") == "fresh"
    # gates and counts are on the page too, and the documentation links lead somewhere
    assert page.locator("#gates tr[data-stage='gate_marts'][data-outcome='passed']").count() == 2
    assert page.locator("#gates-passed tr.gate-row").count() == len(
        [g for g in night["gates"] if g["stage"] == "gate_raw"])
    sources = page.locator("#sources").inner_text()
    for source_id, info in night["sources"].items():  # every source with its counts
        assert f"{source_id}\t{info['deliveries']}\t{info['rows_loaded']:,}\t{info['duplicates']}" in sources
    base = settings().reports_dir / NIGHT
    for link in ("#link-gx", "#link-dbt"):
        href = page.locator(link).get_attribute("href")
        assert (base / href).resolve().exists(), (link, href)


@pytest.mark.unit
def test_freshness_against_cadence():
    from lnob import registry

    reg = registry.load()

    class Ledger:  # what freshness() asks the ledger: last loaded delivery per source
        def __init__(self, last):
            self.last = last

        def cursor(self):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params):
            self.night = params[0]

        def fetchall(self):
            return list(self.last.items())

    night = date(2026, 12, 1)
    last = {s: night for s in reg.sources}
    last.update(vso_np_household_survey=date(2026, 11, 24),  # weekly, 7 days: still fresh
                aak_voices=date(2026, 11, 23),  # weekly, 8 days: stale
                unsd_sdg_api=date(2026, 10, 15))  # monthly, 47 days: stale
    del last["knbs_sdg_sdmx"]  # never delivered: stale
    status = {p["partner_id"]: p["status"] for p in report.freshness(Ledger(last), reg, night)}
    assert status["vso_nepal"] == "fresh" and status["brac_bangladesh"] == "fresh"
    assert status["actionaid_kenya"] == "stale" and status["un_sdg_database"] == "stale"
    assert status["knbs_kenya"] == "stale"
    assert status["world_vision_philippines"] == "no source"


HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2">&amp; "quoted"'


def _hostile_data() -> dict:
    summary = {"run_id": "r1", "night": NIGHT, "complete": False, "problems": [f"gate_marts {HOSTILE} failed"],
               "extract": {"new": 1, "already_loaded": 0},
               "sources": {"src_x": {"deliveries": 1, "rows_loaded": 0, "duplicates": 0, "quarantined": 1,
                                     "quarantine": []}},
               "published_tonight": False, "published_tables": {}, "exports": {}}
    failed = {"table": "mart_lnob_gap", "expectation": "expect_column_values_to_be_between",
              "column": "group_value", "description": HOSTILE, "unexpected_count": 3, "sample": [HOSTILE]}
    return {
        "summary": summary,
        "gates": [{"stage": "gate_marts", "subject": "gx_marts", "outcome": "failed", "failed": [failed],
                   "error": None, "evaluated": 10}],
        "quarantines": [{"subject": "src_x", "source_id": "src_x", "partner_id": "p_x", "file": HOSTILE,
                         "delivery_date": NIGHT, "kind": "contract",
                         "problems": [{"row": 3, "column": "age", "expected": "integer", "found": HOSTILE}],
                         "total": 1, "path": "/q/x"}],
        "freshness": [{"partner_id": "p_x", "partner_name": HOSTILE, "kind": "community", "country": "BGD",
                       "last_delivery_date": "2026-11-01", "cadences": ["daily"], "status": "stale",
                       "sources": [{"source_id": "src_x", "cadence": "daily", "allowed_days": 1,
                                    "last_delivery_date": "2026-11-01", "age_days": 20, "overdue_days": 19,
                                    "stale": True}]}],
        "gap": [{"series": "SH_H2O_SAFE", "series_name": HOSTILE, "indicator_code": "6.1.1", "ref_area": "50",
                 "area_name": HOSTILE, "time_period": "2026", "group_code": "C01", "group_label": HOSTILE,
                 "group_value": None, "group_lower_bound": None, "group_upper_bound": None, "group_n": None,
                 "group_obs_status": "Q", "rest_value": 80.0, "rest_lower_bound": 78.0, "rest_upper_bound": 82.0,
                 "official_value": 60.0, "official_has_group_breakdown": False}],
        "data_docs": "/nowhere/index.html", "dbt_docs": None, "dbt_docs_problem": "not generated",
    }


@pytest.mark.unit
def test_text_is_escaped(tmp_path, browser):
    html = report.render(_hostile_data(), tmp_path)
    assert "<script>window" not in html and "<img src=x" not in html
    path = tmp_path / "report.html"
    path.write_text(html)
    page = browser.new_page()
    page.goto(path.as_uri())
    assert page.evaluate("window.pwned") is None and page.locator("img").count() == 0
    text = page.locator("body").inner_text()
    assert text.count("<script>window.pwned = 1</script>") >= 6  # shown literally, wherever it came from
    # the failed expectation is named; the suppressed group is said, not drawn
    assert "expect_column_values_to_be_between(group_value)" in text
    assert page.locator("rect.bar-group").count() == 0 and page.locator("rect.bar-rest").count() == 1
    assert "suppressed" in page.locator("svg.gap-chart text.missing-group").text_content()
    page.close()
