"""The HTML run report, rendered in headless Chromium (Debian's package, installed by the set-up).

One real night through `airflow dags test` (the session's published night, conftest) writes the report; the browser then checks what a data
engineer would look at: a chart per series with one bar per group, rest of the sample and official
value (each drawn, with a width proportional to its value and its sample size), headings that lead
with the series' label, suppressed cells said to be suppressed, refugees and migrants (the same
respondents) on one row, the data quality per partner, the late partner flagged as stale, the
gates, and a screenshot that is neither blank nor tiny. Then the same night again (a new run, its
own page: the first one's is kept) and a second night: the index lists both nights and the three
runs, and the trend chart draws two nights. A rendered page built from hostile text (partner
names, reasons) shows that text literally.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from browser import ensure_chromium, launch, png_stats
from helpers import lnob
from lnob import pipeline
from lnob.platform.config import settings
from lnob.publish import report
from lnob_dev import sample

NIGHT = "2026-11-21"
NIGHT_2 = "2026-11-22"
#: where the screenshots are copied for people to see (when that folder's parent exists)
SCREENSHOTS = Path(os.environ.get("LNOB_SCREENSHOTS_DIR", "/work/screenshots"))
# Plan India uploads two days late (lnob_dev.sample): on the night its newest delivery is for NIGHT - 2,
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
def night(published_night):
    """The session's night (conftest: one night through the DAG on a clean warehouse and landing
    folder), restored for this module with its reports folder; the summary the report was made of."""
    assert published_night.night == NIGHT and published_night.run.returncode == 0
    return json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1200, "height": 900})
    yield p
    p.close()


def _gap_rows(db) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute("""select series, ref_area, group_code, group_value, rest_value, official_value
                       from marts.fct_lnob_gap where ref_area_level = 'country'""")
        return cur.fetchall()


@pytest.mark.integration
def test_the_night_writes_the_report(night):
    reports = settings().reports_dir
    page = reports / NIGHT / report.safe_run(night["run_id"]) / "report.html"  # the run's own page
    assert night["report_html"] == str(page) and page.exists()
    assert (
        night["report_path"] == str(page.with_name("summary.json")) and page.with_name("summary.txt").exists()
    )
    for pointer in (reports / NIGHT / "report.html", reports / "latest.html", reports / "index.html"):
        assert pointer.exists(), pointer
    assert json.loads((reports / "latest.json").read_text())["run_id"] == night["run_id"]
    html = page.read_text()
    assert "https://" not in html and "<script" not in html  # self-contained: works offline
    assert (reports / "dbt_docs" / "index.html").stat().st_size > 100_000  # dbt docs, generated
    assert f"Run report:  {page}" in (reports / NIGHT / "summary.txt").read_text()
    assert f"All runs:    {reports / 'index.html'}" in page.with_name("summary.txt").read_text()


@pytest.mark.integration
def test_charts_are_drawn_in_chromium(night, page, db, session_dir):
    rows = _gap_rows(db)
    assert rows, "the night published no LNOB gap"
    page.goto(Path(night["report_html"]).as_uri())
    charts = page.locator("svg.gap-chart")
    assert charts.count() == len({r[0] for r in rows})
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 400 and box["height"] > 40
    expected_bars = 0
    seen_rows = set()
    for series, area, group, *values in rows:
        # a group that is the same cell as another (refugees = migrants) is on that one's row
        row = page.locator(f'g.gap-row[data-series="{series}"][data-area="{area}"][data-groups~="{group}"]')
        assert row.count() == 1, (series, area, group)
        first_visit = (series, area, row.get_attribute("data-group")) not in seen_rows
        seen_rows.add((series, area, row.get_attribute("data-group")))
        bars = {}
        for kind, value in zip(("group", "rest", "official"), values, strict=True):
            bar = row.locator(f"rect.bar-{kind}")
            assert bar.count() == (value is not None), (series, area, group, kind)
            if value is not None:
                box = bar.bounding_box()
                assert box and box["width"] > 0 and box["height"] > 0, (series, area, group, kind)
                bars[kind] = (value, box["width"])
                if kind != "official":  # the sample size on every community bar, beside its value
                    n = bar.get_attribute("data-n")
                    assert n and int(n) > 0, (series, area, group, kind)
                    assert f"n = {int(n):,}" in row.locator(f"text.value-{kind}").text_content()
                else:
                    assert "official" in row.locator("text.value-official").text_content()
                expected_bars += first_visit
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
    page.goto(Path(night["report_html"]).as_uri())
    stale = page.locator(f'#freshness tr[data-partner="{STALE_PARTNER}"]')
    assert stale.get_attribute("data-status") == "stale"
    assert "STALE" in stale.inner_text() and "overdue" in stale.inner_text()
    flagged = page.locator('#freshness tr[data-status="stale"]')
    assert [flagged.nth(i).get_attribute("data-partner") for i in range(flagged.count())] == [STALE_PARTNER]
    assert page.locator('#freshness tr[data-partner="wnta_india"]').get_attribute("data-status") == "fresh"
    # gates and counts are on the page too, and the documentation links lead somewhere
    assert page.locator("#gates tr[data-stage='gate_marts'][data-outcome='passed']").count() == 2
    assert page.locator("#gates-passed tr.gate-row").count() == len(
        [g for g in night["gates"] if g["stage"] == "gate_raw"]
    )
    sources = page.locator("#sources").inner_text()
    for source_id, info in night["sources"].items():  # every source with its counts
        assert f"{source_id}\t{info['deliveries']}\t{info['rows_loaded']:,}\t{info['duplicates']}" in sources
    base = Path(night["report_html"]).parent
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
    last.update(
        vso_np_household_survey=date(2026, 11, 24),  # weekly, 7 days: still fresh
        aak_voices=date(2026, 11, 23),  # weekly, 8 days: stale
        unsd_sdg_api=date(2026, 10, 15),
    )  # monthly, 47 days: stale
    del last["knbs_sdg_sdmx"]  # never delivered: stale
    status = {p["partner_id"]: p["status"] for p in report.freshness(Ledger(last), reg, night)}
    assert status["vso_nepal"] == "fresh" and status["brac_bangladesh"] == "fresh"
    assert status["actionaid_kenya"] == "stale" and status["un_sdg_database"] == "stale"
    assert status["knbs_kenya"] == "stale"
    assert status["world_vision_philippines"] == "no source"


HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned=2">&amp; "quoted"'


def _hostile_data() -> dict:
    summary = {
        "run_id": "r1",
        "night": NIGHT,
        "complete": False,
        "problems": [f"gate_marts {HOSTILE} failed"],
        "extract": {"new": 1, "already_loaded": 0},
        "sources": {
            "src_x": {"deliveries": 1, "rows_loaded": 0, "duplicates": 0, "quarantined": 1, "quarantine": []}
        },
        "published_tonight": False,
        "published_tables": {},
        "exports": {},
    }
    failed = {
        "table": "fct_lnob_gap",
        "expectation": "expect_column_values_to_be_between",
        "column": "group_value",
        "description": HOSTILE,
        "unexpected_count": 3,
        "sample": [HOSTILE],
    }
    return {
        "summary": summary,
        "gates": [
            {
                "stage": "gate_marts",
                "subject": "gx_marts",
                "outcome": "failed",
                "failed": [failed],
                "error": None,
                "evaluated": 10,
            }
        ],
        "quarantines": [
            {
                "subject": "src_x",
                "source_id": "src_x",
                "partner_id": "p_x",
                "file": HOSTILE,
                "delivery_date": NIGHT,
                "kind": "contract",
                "problems": [{"row": 3, "column": "age", "expected": "integer", "found": HOSTILE}],
                "total": 1,
                "path": "/q/x",
            }
        ],
        "freshness": [
            {
                "partner_id": "p_x",
                "partner_name": HOSTILE,
                "kind": "community",
                "country": "BGD",
                "last_delivery_date": "2026-11-01",
                "cadences": ["daily"],
                "status": "stale",
                "sources": [
                    {
                        "source_id": "src_x",
                        "cadence": "daily",
                        "allowed_days": 1,
                        "last_delivery_date": "2026-11-01",
                        "age_days": 20,
                        "overdue_days": 19,
                        "stale": True,
                    }
                ],
            }
        ],
        "gap": [
            {
                "series": "SH_H2O_SAFE",
                "series_name": HOSTILE,
                "indicator_code": "6.1.1",
                "ref_area": "50",
                "area_name": HOSTILE,
                "time_period": "2026",
                "group_code": "C01",
                "group_label": HOSTILE,
                "group_value": None,
                "group_lower_bound": None,
                "group_upper_bound": None,
                "group_n": None,
                "group_obs_status": "Q",
                "rest_value": 80.0,
                "rest_lower_bound": 78.0,
                "rest_upper_bound": 82.0,
                "official_value": 60.0,
                "official_has_group_breakdown": False,
            }
        ],
        "data_docs": "/nowhere/index.html",
        "dbt_docs": None,
        "dbt_docs_problem": "not generated",
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


# --------------------------------------------------------------------------------------------
# What the report shows beside the bars, on the real night


@pytest.mark.integration
def test_headings_lead_with_labels_and_suppressed_cells_are_said(night, page, db):
    with db.cursor() as cur:
        cur.execute("""select distinct on (series_code) series_code, series_name, indicator_code
                       from marts.dim_indicator where series_code in (select series from marts.fct_lnob_gap)
                       order by series_code, indicator_code""")
        names = cur.fetchall()
        cur.execute("""select series, ref_area, group_code from marts.fct_lnob_gap
                       where ref_area_level = 'country' and group_obs_status = 'Q'""")
        suppressed = cur.fetchall()
    page.goto(Path(night["report_html"]).as_uri())
    for series, name, indicator in names:  # "Proportion of ... (16.9.1)", the code after it
        heading = page.locator(f"h3#gap-{series}").inner_text()
        assert heading == f"{name} ({indicator})", heading
        assert series not in heading
    assert suppressed, "the sample always has small cells"
    for series, area, group in suppressed:  # said and marked, never a bar of zero
        row = page.locator(f'g.gap-row[data-series="{series}"][data-area="{area}"][data-groups~="{group}"]')
        assert row.locator("rect.bar-group").count() == 0 and row.locator("rect.bar-rest").count() == 0
        assert row.locator("rect.suppressed-group").count() == 1
        assert "suppressed (small cell)" in row.locator("text.missing-group").text_content()
        assert "suppressed" in row.locator("text.missing-rest").text_content()


@pytest.mark.integration
def test_refugees_and_migrants_are_one_row(night, page, db):
    """Bangladesh's "Refugee" and "Migrants (incl. refugees)" showed identical bars: not a rendering
    bug nor a join fan-out but the same respondents under two codes. The surveys know migrant status
    only from displacement (int_persons_harmonised: DISP_REFUGEE -> MS_MIGRANT), so the mart's C09
    and MS_MIGRANT cells are equal in every value and n. The report draws them once, under both
    labels, and draws no other pair of identical bars."""
    with db.cursor() as cur:
        cur.execute("""select series, group_code, group_value, group_n, rest_value, rest_n, group_obs_status
                       from marts.fct_lnob_gap where ref_area_level = 'country' and ref_area = '50'
                         and group_code in ('C09', 'MS_MIGRANT') order by series, group_code""")
        bgd = cur.fetchall()
        cur.execute("""select count(*) from marts.fct_lnob_gap where ref_area_level = 'country'
                       and group_code = 'MS_MIGRANT'""")
        migrants = cur.fetchone()[0]
    pairs: dict = {}
    for series, code, *cell in bgd:
        pairs.setdefault(series, {})[code] = tuple(cell)
    assert len(pairs) >= 5 and all(p["C09"] == p["MS_MIGRANT"] for p in pairs.values()), pairs  # the cause
    page.goto(Path(night["report_html"]).as_uri())
    for series, cells in pairs.items():
        if cells["C09"][-1] == "Q":
            continue  # suppressed twins are both said to be suppressed
        row = page.locator(f'g.gap-row[data-series="{series}"][data-area="50"][data-groups~="MS_MIGRANT"]')
        assert row.get_attribute("data-groups") == "C09 MS_MIGRANT"
        label = row.locator("text.row-label").all_text_contents()
        assert label[1] == "Refugee or forcibly displaced (C09)"
        assert label[2:] == ["= Migrants (incl. refugees) (MS_MIGRANT)", "the same respondents"], label
        assert (
            page.locator(
                f'g.gap-row[data-series="{series}"][data-area="50"][data-group="MS_MIGRANT"]'
            ).count()
            == 0
        )
    assert page.locator('g.gap-row[data-groups~="MS_MIGRANT"]').count() <= migrants
    # no two rows of one series and area carry the same group bar (value and n)
    seen = set()
    bars = page.locator("rect.bar-group")
    for i in range(bars.count()):
        b = bars.nth(i)
        key = tuple(
            b.get_attribute(a) for a in ("data-series", "data-area", "data-period", "data-value", "data-n")
        )
        assert key not in seen, key
        seen.add(key)


@pytest.mark.integration
def test_data_quality_per_partner(night, page, db):
    """Don't-know rates counted here straight from the harmonised respondents; quarantines,
    submissions and held-back deliveries as the night's summary has them."""
    from lnob import registry

    reg = registry.load()
    with db.cursor() as cur:
        cur.execute("""select partner_id,
                              count(*) filter (where birth_registered = '_U') + count(*) filter (where felt_discriminated = '_U')
                              + count(*) filter (where health_need = '_U') + count(*) filter (where health_access = '_U')
                              + count(*) filter (where water_safe = '_U'),
                              count(birth_registered) + count(felt_discriminated) + count(health_need)
                              + count(health_access) + count(water_safe)
                       from intermediate.int_persons_harmonised group by partner_id""")
        rates = {p: dk / n for p, dk, n in cur.fetchall() if n}
    assert any(r > 0 for r in rates.values()), rates  # the sample has don't-know answers
    page.goto(Path(night["report_html"]).as_uri())
    table = page.locator("#partner-quality")
    with_sources = [p for p in reg.partners if reg.sources_of(p)]
    assert table.locator("tr.partner-quality").count() == len(with_sources)
    for partner_id in with_sources:
        row = table.locator(f'tr[data-partner="{partner_id}"]')
        shown = row.get_attribute("data-dont-know-rate")
        if partner_id in rates:
            assert abs(float(shown) - rates[partner_id]) < 1e-4, (partner_id, shown, rates[partner_id])
            assert f"{100 * rates[partner_id]:.1f}%" in row.inner_text()
        src = [s.id for s in reg.sources_of(partner_id)]
        quarantined = sum(night["sources"].get(s, {}).get("quarantined", 0) for s in src)
        assert row.get_attribute("data-quarantined") == str(quarantined)
        assert row.get_attribute("data-held-back") == str(
            len([h for h in night["held_back"] if h["source"] in src])
        )
        subs = [
            night["sources"][s]["submissions"] for s in src if night["sources"].get(s, {}).get("submissions")
        ]
        if subs:  # survey platforms: rejected by reviewers and quarantined alone
            assert f"{sum(x['rejected'] for x in subs):,} rejected by reviewers" in row.inner_text()
    assert "person_pid" not in page.content()  # counts only, never a respondent


# --------------------------------------------------------------------------------------------
# History: the same night again is a new run; a second night; the index and the trend


@pytest.fixture(scope="module")
def nights(night, rerun_night):
    """The first night's run again (a new run: its page must not replace the first one's; the
    session's re-run, conftest), then a second night on a small sample. Returns the three
    summaries, oldest first."""
    reports = settings().reports_dir
    again = rerun_night.run
    assert again.returncode == 0, again.stdout[-5000:] + again.stderr[-5000:]
    assert rerun_night.first_summary["run_id"] == night["run_id"]
    rerun = json.loads((reports / "latest.json").read_text())
    assert rerun["run_id"] != night["run_id"] and rerun["night"] == NIGHT
    # the first run's page, its load counts with it, kept: by the re-run, and on disk now
    assert rerun_night.first_page_after == rerun_night.first_page_before
    assert Path(night["report_html"]).read_bytes() == rerun_night.first_page_before
    sample.generate(settings().landing_dir, persons=1000, seed=43, day=date.fromisoformat(NIGHT_2))
    done = lnob(
        "airflow", "dags", "test", "lnob_nightly", NIGHT_2, timeout=1200, env={"LNOB_TASK_RETRIES": "0"}
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    second = json.loads((reports / NIGHT_2 / "summary.json").read_text())
    return [night, rerun, second]


@pytest.mark.integration
def test_a_rerun_is_a_new_run(nights):
    first, rerun, _ = nights
    reports = settings().reports_dir
    pages = sorted((reports / NIGHT).glob("*/report.html"))
    assert [p.parent.name for p in pages] == sorted(report.safe_run(s["run_id"]) for s in (first, rerun))
    kept = json.loads(Path(first["report_path"]).read_text())  # the first run's summary, as it was
    assert kept["run_id"] == first["run_id"] and kept["sources"] == first["sources"] and kept["sources"]
    assert "rows loaded" in Path(first["report_html"]).read_text()
    # the night's pointer and its summary name the re-run, the latest run of the night
    assert json.loads((reports / NIGHT / "summary.json").read_text())["run_id"] == rerun["run_id"]
    assert rerun["run_id"] in (reports / NIGHT / "report.html").read_text()
    assert pipeline.latest_summary()["night"] == NIGHT_2


@pytest.mark.integration
def test_history_keeps_what_each_run_published(nights, db):
    with db.cursor() as cur:
        cur.execute("select count(*) from marts.fct_lnob_gap where ref_area_level = 'country'")
        published_now = cur.fetchone()[0]
        cur.execute("""select run_id, night, count(*), count(*) filter (where group_obs_status = 'Q'),
                              count(*) filter (where group_n is not null)
                       from lnob_meta.report_history group by run_id, night""")
        kept = {r[0]: r[1:] for r in cur.fetchall()}
        cur.execute(
            """select group_value, group_n, group_obs_status from lnob_meta.report_history h
                       where run_id = %s and series = 'SH_H2O_SAFE' and ref_area = '50' and group_code = 'C09'""",
            (nights[-1]["run_id"],),
        )
        kept_cell = cur.fetchone()
        cur.execute("""select group_value, group_n, group_obs_status from marts.fct_lnob_gap
                       where ref_area_level = 'country' and series = 'SH_H2O_SAFE' and ref_area = '50'
                         and group_code = 'C09'""")
        published_cell = cur.fetchone()
    assert set(kept) == {s["run_id"] for s in nights}  # every run published, every run kept
    assert kept[nights[-1]["run_id"]][1] == published_now and kept_cell == published_cell
    for run_id, (_night, rows, suppressed, with_n) in kept.items():
        assert rows > 0 and suppressed > 0 and with_n == rows - suppressed, run_id  # n and the flag kept


@pytest.mark.integration
def test_index_lists_both_nights_and_draws_the_trend(nights, page, session_dir):
    reports = settings().reports_dir
    page.goto((reports / "index.html").as_uri())
    runs = page.locator("#runs tr.run")
    assert runs.count() == 3
    assert [runs.nth(i).get_attribute("data-night") for i in range(3)] == [NIGHT_2, NIGHT, NIGHT]
    assert {runs.nth(i).get_attribute("data-run") for i in range(3)} == {s["run_id"] for s in nights}
    for i in range(3):  # every run links its own page, and it is there
        row = runs.nth(i)
        assert row.get_attribute("data-outcome") == "complete" and "published" in row.inner_text()
        href = row.locator("a.run-link").get_attribute("href")
        target = (reports / href).resolve()
        assert target.exists() and target.parent.parent.name == row.get_attribute("data-night")
    first = next(s for s in nights if s["sources"])
    row = page.locator(f'#runs tr[data-run="{first["run_id"]}"]')
    assert f"{sum(i['rows_loaded'] for i in first['sources'].values()):,}" in row.inner_text()

    charts = page.locator("svg.trend-chart")
    assert charts.count() >= 5
    chart = charts.first
    assert chart.get_attribute("data-nights") == "2" and chart.is_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 600 and box["height"] > 100
    # a published group has a point on each night, drawn as a line, its n in the tooltip
    line = page.locator("svg.trend-chart g.trend-row:has(polyline.trend-group)").first
    points = line.locator("circle.point-group")
    assert {points.nth(i).get_attribute("data-night") for i in range(points.count())} == {NIGHT, NIGHT_2}
    assert all(int(points.nth(i).get_attribute("data-n")) > 0 for i in range(points.count()))
    assert "n = " in points.first.locator("title").text_content()
    assert page.locator("svg.trend-chart g.suppressed-point").count() > 0  # suppressed: S, not zero
    assert page.locator('svg.trend-chart g.trend-row[data-groups="C09 MS_MIGRANT"]').count() > 0
    html = (reports / "index.html").read_text()
    assert "https://" not in html and "<script" not in html

    shot = page.screenshot(path=str(session_dir / "report-index.png"), full_page=True)
    stats = png_stats(page, shot)
    assert stats["distinct"] > 50 and stats["white"] < 0.97
    trend = chart.screenshot(path=str(session_dir / "report-trend.png"))
    assert png_stats(page, trend)["counts"].get(RED, 0) > 30
    page.goto(Path(nights[-1]["report_html"]).as_uri())  # the run's page: its own trend section
    assert page.locator("#section-trends svg.trend-chart").count() == charts.count()
    page.screenshot(path=str(session_dir / "report-run.png"), full_page=True)
    if SCREENSHOTS.parent.is_dir():
        SCREENSHOTS.mkdir(exist_ok=True)
        for name in ("report-index.png", "report-trend.png", "report-run.png"):
            shutil.copyfile(session_dir / name, SCREENSHOTS / name)


@pytest.mark.unit
def test_twins_merge_only_identical_published_cells():
    base = {
        "series": "S",
        "ref_area": "50",
        "time_period": "2026",
        "group_value": 45.16,
        "group_n": 31,
        "group_lower_bound": 30.0,
        "group_upper_bound": 60.0,
        "rest_value": 88.64,
        "rest_n": 44,
        "group_obs_status": "G",
    }
    refugee = {**base, "group_dimension": "CUST_BREAKDOWN", "group_code": "C09", "group_label": "Refugee"}
    migrant = {
        **base,
        "group_dimension": "COMPOSITE_BREAKDOWN",
        "group_code": "MS_MIGRANT",
        "group_label": "Migrants",
    }
    merged = report.merge_twins([migrant, refugee])
    assert len(merged) == 1 and [t["group_code"] for t in merged[0]["twins"]] == ["C09", "MS_MIGRANT"]
    assert report.group_label(merged[0]) == "Refugee (C09) = Migrants (MS_MIGRANT)"
    other = {**migrant, "group_n": 32}  # one respondent more: another group, two rows
    assert len(report.merge_twins([refugee, other])) == 2
    elsewhere = {**migrant, "ref_area": "404"}
    assert len(report.merge_twins([refugee, elsewhere])) == 2
    hidden = {
        "group_value": None,
        "group_n": None,
        "rest_value": None,
        "rest_n": None,
        "group_obs_status": "Q",
    }
    assert len(report.merge_twins([{**refugee, **hidden}, {**migrant, **hidden}])) == 2  # nothing to compare
    html = report.gap_chart("S", [refugee, migrant])
    assert html.count('class="gap-row"') == 1 and html.count('class="bar bar-group"') == 1
    assert 'data-groups="C09 MS_MIGRANT"' in html and "n = 31" in html and "n = 44" in html


@pytest.mark.unit
def test_run_ids_become_safe_folder_names():
    assert (
        report.safe_run("manual__2026-12-03T08:31:00.297879+00:00")
        == "manual__2026-12-03T08-31-00.297879-00-00"
    )
    assert report.safe_run("../../etc/passwd") == "etc-passwd"
    assert "/" not in report.safe_run("a/b\\c") and report.safe_run("..") == "run"


@pytest.mark.unit
def test_partner_quality_names_unmapped_codes_and_held_back_deliveries(tmp_path):
    """What lnob.quality.isolation logs for a held-back delivery (an unmapped spelling) reaches the
    partner's row: the column, the spelling and its rows, and the delivery with its reason."""
    from lnob import registry

    reg = registry.load()
    why = "unmapped_code column sex: spellings the registry's code map does not know [femme x3]"
    summary = {
        "run_id": "r1",
        "night": NIGHT,
        "complete": True,
        "problems": [],
        "extract": {"new": 2},
        "sources": {
            "aavn_household_survey": {
                "deliveries": 2,
                "rows_loaded": 800,
                "duplicates": 0,
                "quarantined": 1,
                "quarantine": [],
            }
        },
        "held_back": [
            {
                "source": "aavn_household_survey",
                "partner": "actionaid_vietnam",
                "delivery_id": 7,
                "file": "household_survey.csv",
                "delivery_date": NIGHT,
                "why": [why],
                "unmapped": [{"column": "sex", "values": [{"value": "femme", "rows": 3}]}],
            }
        ],
        "published_tonight": False,
        "published_tables": {},
        "exports": {},
    }
    rates = {
        "actionaid_vietnam": {
            "persons": 900,
            "dont_know": 9,
            "answered": 300,
            "rate": 0.03,
            "questions": [{"question": "felt discriminated", "dont_know": 9, "answered": 300}],
        }
    }
    rows = report.partner_quality(reg, summary, rates)
    vn = next(r for r in rows if r["partner_id"] == "actionaid_vietnam")
    assert rows[0] is vn  # the partner with problems first
    assert vn["quarantined"] == 1 and len(vn["held_back"]) == 1
    assert vn["unmapped"] == [
        {"source": "aavn_household_survey", "column": "sex", "values": [{"value": "femme", "rows": 3}]}
    ]
    html = report._partners({"partners": rows})
    assert "<code>sex</code>: &#x27;femme&#x27; ×3" in html and "delivery 7" in html and "femme x3" in html
    assert "3.0%" in html and "felt discriminated: 3.0% (9 of 300)" in html
    assert (
        "data-partner='actionaid_vietnam' data-quarantined='1' data-held-back='1' data-unmapped='1'" in html
    )


@pytest.mark.unit
def test_index_lists_every_run_and_nights_written_before_run_folders(tmp_path):
    def summary(run_id, night, written, folder=None):
        s = {
            "run_id": run_id,
            "night": night,
            "written_at": written,
            "complete": True,
            "published_tonight": True,
            "problems": [],
            "extract": {"new": 1},
            "sources": {"s": {"rows_loaded": 10, "quarantined": 0}},
            "held_back": [],
            "gates": [],
            "published_tables": {"fct_lnob_gap": 5},
        }
        where = tmp_path / night / (folder or "")
        where.mkdir(parents=True, exist_ok=True)
        s["report_html"] = str(where / "report.html")
        (where / "summary.json").write_text(json.dumps(s))
        return s

    legacy = summary("scheduled__2026-11-19", "2026-11-19", None)  # <night>/summary.json only
    first = summary("manual__a", "2026-11-20", "2026-12-01T01:00:00+00:00", report.safe_run("manual__a"))
    again = summary("manual__b", "2026-11-20", "2026-12-01T02:00:00+00:00", report.safe_run("manual__b"))
    (tmp_path / "2026-11-20" / "summary.json").write_text(json.dumps(again))  # the night's pointer
    (tmp_path / "dbt_docs").mkdir()
    found = report.runs(tmp_path)
    assert [s["run_id"] for s in found] == ["manual__b", "manual__a", "scheduled__2026-11-19"]
    html = report.render_index(found, {"history": []}, tmp_path)
    assert html.count("<tr class='run complete'") == 3
    for s in (legacy, first, again):
        href = Path(s["report_html"]).relative_to(tmp_path).as_posix()
        assert f"href='{href}'" in html


def test_trend_counts_the_gap_mart_under_its_old_name_too():
    # a run before the rename (ADR 0007) published the LNOB gap as mart_lnob_gap
    assert report._counts({"published_tables": {"mart_lnob_gap": 295}})["gap_rows"] == 295
    assert report._counts({"published_tables": {"fct_lnob_gap": 301}})["gap_rows"] == 301
    assert report._counts({})["gap_rows"] is None
