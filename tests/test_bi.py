"""What a BI user sees (issue 16): labels beside codes and documented columns in `marts`, read as
`lnob_bi_reader`; GX Data Docs that render with the network blocked; Apache Superset (its own
virtualenv) on the reader's login with the dashboard kept in bi/superset/.

The session's published night (conftest: the DAG through `lnob demo`, real dbt, GX, PostgreSQL, on
a small sample) is what every test reads. Screenshots go to
``$LNOB_SCREENSHOTS_DIR`` (default: the test session's folder).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg2
import pytest
from browser import ensure_chromium, launch, png_stats
from lnob.platform import roles
from lnob.quality import data_docs, gates

pytestmark = pytest.mark.integration

NIGHT = "2026-11-21"


def screenshots(session_dir: Path) -> Path:
    folder = Path(os.environ.get("LNOB_SCREENSHOTS_DIR") or session_dir / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def night(published_night):
    """A clean warehouse, the roles, one night published as the DAG runs it: the session's
    (conftest), restored for this module; the night's summary."""
    assert published_night.night == NIGHT and published_night.summary["published_tonight"]
    return published_night.summary


@pytest.fixture
def reader(night, warehouse_url):
    """The BI tool's own login: lnob_bi_reader with its password (no SET ROLE from another user)."""
    conn = psycopg2.connect(roles.reader_url(warehouse_url))
    conn.autocommit = True
    yield conn
    conn.close()


# --- labels beside codes ------------------------------------------------------------------------

LABELLED = {  # view: (code column, label column) pairs
    "bi_sdg_observation": [
        ("reporting_type", "reporting_type_label"),
        ("sex", "sex_label"),
        ("age", "age_label"),
        ("urbanisation", "urbanisation_label"),
        ("disability_status", "disability_status_label"),
        ("composite_breakdown", "composite_breakdown_label"),
        ("unit_measure", "unit_measure_label"),
        ("obs_status", "obs_status_label"),
        ("ref_area", "area_name"),
        ("series", "series_name"),
    ],
    "bi_lnob_gap": [
        ("group_code", "group_label"),
        ("group_dimension", "group_dimension_label"),
        ("group_obs_status", "group_obs_status_label"),
        ("country_m49", "country_name"),
        ("ref_area", "area_name"),
        ("series", "series_name"),
    ],
    "bi_evidence_map": [
        ("group_code", "group_label"),
        ("group_dimension", "group_dimension_label"),
        ("country_m49", "country_name"),
        ("series", "series_name"),
    ],
}


def test_the_reader_sees_a_label_beside_every_code_without_reading_reference(reader):
    with reader.cursor() as cur:
        for view, pairs in LABELLED.items():
            for code, label in pairs:
                cur.execute(
                    f"select count(*), count(*) filter (where {code} is not null and {label} is null) "
                    f"from marts.{view}"
                )
                rows, unlabelled = cur.fetchone()
                assert rows > 0, view
                assert unlabelled == 0, (
                    f"{view}.{code}: {unlabelled} of {rows} rows have a code and no {label}"
                )
        cur.execute("select distinct sex, sex_label from marts.bi_sdg_observation where sex = '_T'")
        assert cur.fetchall() == [("_T", "Both sexes or no breakdown by sex")]
        cur.execute(
            "select distinct obs_status, obs_status_label, is_suppressed from marts.bi_sdg_observation "
            "where obs_status = 'Q'"
        )
        assert cur.fetchall() == [("Q", "Missing value; suppressed", True)]
        cur.execute("select label from marts.dim_sdmx_code where codelist_id = 'CL_AGE' and code = 'Y0T4'")
        assert cur.fetchone() == ("under 5 years old",)
        # the partnership's groups carry the registry's labels, not the global "Custom code 01"
        cur.execute(
            "select code, label from marts.dim_sdmx_code where codelist_id = 'CL_CUST_BREAKDOWN' "
            "and code = 'C01'"
        )
        assert cur.fetchone() == ("C01", "Ethnic minority")
        cur.execute("select distinct group_label from marts.bi_lnob_gap where group_code = 'PD'")
        assert cur.fetchall() == [("Persons with disability",)]
    # and all of that without any privilege on the codelists
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
        cur.execute("select * from reference.sdmx_codes limit 1")
    with reader.cursor() as cur:
        cur.execute("select has_schema_privilege('reference', 'usage')")
        assert cur.fetchone() == (False,)


def test_every_published_table_view_and_column_carries_its_description(reader):
    """dbt's persist_docs writes the yml descriptions as PostgreSQL comments into marts_audit; the
    publish swap renames the schema, and the comments (kept by object, not by name) go with it."""
    with reader.cursor() as cur:
        cur.execute("""select c.relname, c.relkind, obj_description(c.oid, 'pg_class') from pg_class c
                       where c.relnamespace = 'marts'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
                       order by 1""")
        relations = cur.fetchall()
        assert {
            "bi_sdg_observation",
            "bi_lnob_gap",
            "bi_evidence_map",
            "dim_sdmx_code",
            "fct_sdg_observation",
            "fct_lnob_gap",
        } <= {r[0] for r in relations}
        undocumented = [name for name, _, comment in relations if not (comment or "").strip()]
        assert not undocumented, f"published without a description: {undocumented}"
        cur.execute("""select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid
                       where c.relnamespace = 'marts'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
                         and a.attnum > 0 and not a.attisdropped
                         and coalesce(col_description(c.oid, a.attnum), '') = ''
                       order by 1, 2""")
        missing = cur.fetchall()
        assert not missing, f"columns published without a description: {missing}"
        cur.execute(
            "select col_description('marts.bi_sdg_observation'::regclass, "
            "(select attnum from pg_attribute where attrelid = 'marts.bi_sdg_observation'::regclass "
            "and attname = 'sex_label'))"
        )
        assert "Both sexes" in cur.fetchone()[0]


# --- GX Data Docs offline ------------------------------------------------------------------------


def _offline_page(browser):
    """A page whose every request off this machine is aborted (and recorded)."""
    blocked: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "data:", "blob:")) or re.match(
            r"https?://(127\.0\.0\.1|localhost)[:/]", url
        ):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    return context.new_page(), blocked


def test_gx_data_docs_render_with_the_network_blocked(night, session_dir):
    from playwright.sync_api import expect, sync_playwright

    index = Path(gates.data_docs_index())
    assert index.is_file()
    site = index.parent
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 1
    for page_file in pages:  # nothing left for a browser to fetch from a CDN
        text = page_file.read_text()
        assert not re.search(r"<(script|link)[^>]*(src|href)=\"https?://", text), page_file
        assert "integrity=" not in text, page_file
    result_page = next(
        p for p in pages if "validations" in p.parts and "marts__fct_sdg_observation" in str(p)
    )

    ensure_chromium()
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page, blocked = _offline_page(browser)
            page.goto(index.as_uri())
            # bootstrap-table (a vendored script) builds the index of validation results
            rows = page.locator("table tbody tr")
            expect(rows.first).to_be_visible(timeout=30_000)
            assert rows.count() >= 2
            # each row names a validation result: run time, suite (e.g. raw__..., marts__...), status
            expect(rows.first).to_contain_text(re.compile(r"(raw|marts|persons)__\w+"))
            # Bootstrap's CSS applied (a vendored stylesheet): the navbar is laid out as a flex box
            assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
            shot = page.screenshot(path=str(screenshots(session_dir) / "gx-docs.png"), full_page=False)
            assert png_stats(page, shot)["distinct"] > 20

            page.goto(result_page.as_uri())
            expect(page.get_by_text("Expectation Validation Result")).to_be_visible(timeout=30_000)
            # the expectations of the suite, one table row each, rendered and visible
            results = page.locator("table tbody tr:visible")
            expect(results.first).to_be_visible(timeout=30_000)
            assert results.count() >= 5
            # Font Awesome (vendored css and font): the status icons have their glyphs
            assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
            page.screenshot(path=str(screenshots(session_dir) / "gx-docs-result.png"), full_page=False)
            assert not blocked, f"Data Docs asked the network for {blocked}"
        finally:
            browser.close()


def test_make_offline_names_a_cdn_file_it_has_no_copy_of(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        '<html><head><script src="https://cdn.example.org/lib@9/x.js"></script></head><body>x</body></html>'
    )
    with pytest.raises(
        data_docs.DataDocsError, match=r"https://cdn.example.org/lib@9/x.js.*no copy is vendored"
    ):
        data_docs.make_offline(site)


def test_make_offline_rewrites_by_relative_path_and_is_idempotent(tmp_path):
    site = tmp_path / "site"
    nested = site / "validations" / "suite" / "run"
    nested.mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    page = nested / "result.html"
    page.write_text(
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>'
        '<a href="https://greatexpectations.io">GX</a>'
    )
    assert data_docs.make_offline(site) == 2
    text = page.read_text()
    assert (
        'href="../../../static/vendor/maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"' in text
    )
    assert (
        '<script src="../../../static/vendor/stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js">'
        in text
    )
    assert 'href="https://greatexpectations.io"' in text  # a link is not a download: left as it is
    assert (site / "static/vendor/stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js").is_file()
    assert data_docs.make_offline(site) == 0
    assert page.read_text() == text


# --- Apache Superset on the reader's login ---------------------------------------------------------

ADMIN_PASSWORD = "test-only-superset-admin"


@pytest.fixture(scope="module")
def superset_ui(night, warehouse_url, session_dir):
    """Superset from its own virtualenv (installed once per requirements-superset.txt hash), a
    SQLite metadata database in the session folder, `superset run` on a free port, and the
    dashboard imported from bi/superset/assets by `lnob.publish.superset.setup`; yields (base URL, target)."""
    import signal
    import subprocess
    import time

    from helpers import free_port
    from lnob.platform import warehouse
    from lnob.publish import superset

    started = time.monotonic()
    installed = superset.ensure_venv()
    print(f"superset virtualenv: {installed:.0f} s to install ({'cached' if not installed else 'from PyPI'})")
    home = session_dir / "superset"
    superset.init_local(home, ADMIN_PASSWORD)
    print(f"superset metadata initialised: {time.monotonic() - started:.0f} s so far")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = session_dir / "superset.log"
    server = superset.serve_local(home, port, log)
    try:
        superset.wait_up(base, server, log)
        info = warehouse.ConnInfo.from_url(warehouse_url)
        target = superset.Target(
            url=base,
            admin_user="admin",
            admin_password=ADMIN_PASSWORD,
            host="127.0.0.1",
            port=info.port,
            dbname=info.dbname,
            reader_password=roles.reader_password(),
        )
        done = superset.setup(target)
        assert any("imported" in line for line in done), done
        assert superset.setup(target)[0] == done[0]  # a second import overwrites, nothing doubles
        print(f"superset up with the dashboard: {time.monotonic() - started:.0f} s")
        yield base, target
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _api(target):
    import requests
    from lnob.publish import superset

    http = requests.Session()
    superset.login(http, target)
    return http


def test_superset_reads_the_warehouse_as_lnob_bi_reader_and_nothing_else(superset_ui):
    base, target = superset_ui
    http = _api(target)
    (db,) = http.get(f"{base}/api/v1/database/", timeout=60).json()["result"]
    assert db["database_name"] == "LNOB marts"
    uri = http.get(f"{base}/api/v1/database/{db['id']}/connection", timeout=60).json()["result"][
        "sqlalchemy_uri"
    ]
    assert uri.startswith("postgresql+psycopg2://lnob_bi_reader:XXXXXXXXXX@127.0.0.1:"), uri

    def sql(query: str) -> dict:
        return http.post(
            f"{base}/api/v1/sqllab/execute/",
            timeout=120,
            json={"database_id": db["id"], "sql": query, "runAsync": False, "schema": "marts"},
        ).json()

    # the login SQL Lab's queries run as (Superset refuses current_user, not pg_backend_pid)
    who = sql("select usename as who from pg_stat_activity where pid = pg_backend_pid()")
    assert who.get("data") == [{"who": "lnob_bi_reader"}], who
    refused = sql("select * from reference.sdmx_codes limit 1")
    assert "permission denied" in json.dumps(refused), refused
    # the datasets carry the warehouse's column comments (dbt docs, persisted)
    datasets = http.get(f"{base}/api/v1/dataset/", timeout=60).json()["result"]
    gap = next(d for d in datasets if d["table_name"] == "bi_lnob_gap")
    columns = http.get(f"{base}/api/v1/dataset/{gap['id']}", timeout=60).json()["result"]["columns"]
    assert len(columns) > 30  # refreshed from the view, not only the ones the YAML declares
    undescribed = [c["column_name"] for c in columns if not (c.get("description") or "").strip()]
    assert not undescribed, f"Superset shows no description for {undescribed}"
    described = {c["column_name"]: c["description"] for c in columns}
    assert (
        described["group_label"].strip() == "The group's name."
    )  # the dbt yml's words, via the column comment


def _login(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.locator("input#username, input[name=username]").first.fill("admin")
    page.locator("input#password, input[name=password]").first.fill(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url, timeout=60_000)


def test_the_dashboard_shows_the_gap_by_group_and_country_with_labels(superset_ui, reader, session_dir):
    from playwright.sync_api import expect, sync_playwright

    base, _ = superset_ui
    with reader.cursor() as cur:
        cur.execute(
            "select distinct group_label, group_code, country_name, country_m49 from marts.bi_lnob_gap "
            "where not is_suppressed"
        )
        rows = cur.fetchall()
    labels = {r[0] for r in rows} | {r[2] for r in rows}
    codes = {r[1] for r in rows} | {r[3] for r in rows}
    assert labels and codes and not labels & codes

    ensure_chromium()
    shots = screenshots(session_dir)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            charts: dict[int, dict] = {}

            def keep(response):
                if "/api/v1/chart/data" in response.url and response.status == 200:
                    charts[len(charts)] = response.json()["result"][0]

            page.on("response", keep)
            _login(page, base)
            page.goto(f"{base}/superset/dashboard/lnob/")
            expect(page.get_by_text("Leave No One Behind").first).to_be_visible(timeout=60_000)
            for title in ("LNOB gap by group and country", "Evidence map", "Suppression share"):
                expect(page.get_by_text(title, exact=True).first).to_be_visible(timeout=60_000)
            # the gap chart: ECharts draws on a canvas, from the rows its query returned
            gap_chart = page.locator(".dashboard-component-chart-holder").filter(
                has_text="LNOB gap by group and country"
            )
            canvas = gap_chart.locator("canvas").first
            expect(canvas).to_be_visible(timeout=90_000)
            page.wait_for_timeout(1500)  # the bars' entry animation
            gap = next(c for c in charts.values() if "bi_lnob_gap" in c["query"])
            assert gap["status"] == "success" and gap["rowcount"] > 0
            # the chart's rows as drawn: one per group (the axis), one column per country (the bars)
            countries = set(gap["colnames"]) - {"group_label"}
            shown = {row["group_label"] for row in gap["data"]} | countries
            assert len(countries) >= 2, gap["colnames"]
            assert shown and shown <= labels, shown - labels
            assert not shown & codes, f"the gap chart shows codes: {shown & codes}"
            drawn = png_stats(page, canvas.screenshot())
            assert drawn["distinct"] > 10 and drawn["white"] < 0.97, drawn  # bars, axes, labels: not blank
            # the evidence map is a table: its labels are text on the page
            evidence = page.locator(".dashboard-component-chart-holder").filter(has_text="Evidence map")
            expect(evidence.get_by_text("Persons with disability").first).to_be_visible(timeout=60_000)
            expect(evidence.get_by_text("Gaps (nobody holds data)").first).to_be_visible()
            suppression = next(c for c in charts.values() if "bi_sdg_observation" in c["query"])
            assert suppression["status"] == "success" and all(
                0 <= row["suppressed_share"] <= 100 for row in suppression["data"]
            )
            page.screenshot(path=str(shots / "bi-superset-dashboard.png"), full_page=True)
            gap_chart.screenshot(path=str(shots / "bi-superset-gap-chart.png"))

            # the database behind it, as Superset's own screen shows it: the reader's login, and it works
            # The list is drawn from one API call; under load it has once come back empty ("No
            # Data"): what the server answered is kept, so a failure says which call and what status,
            # and a server error is asked again once (a transient answer, not what this checks).
            answers: list[str] = []

            def listed(response):
                if "/api/v1/database/?q=(order_column" in response.url:  # the list itself
                    try:
                        count = response.json().get("count") if response.status == 200 else None
                    except Exception as exc:  # noqa: BLE001 - a body that is not JSON is the answer to report
                        count = f"unreadable ({type(exc).__name__})"
                    answers.append(f"{response.status} count={count}")

            page.on("response", listed)
            row = page.locator("tr", has_text="LNOB marts")
            for attempt in range(2):
                page.goto(f"{base}/databaseview/list/")
                try:
                    expect(row).to_be_visible(timeout=60_000)
                    break
                except AssertionError as err:
                    if attempt or not answers or answers[-1].startswith("200 count=1"):
                        raise AssertionError(
                            f"the database list did not show LNOB marts; API answers: {answers}"
                        ) from err
            row.hover()
            row.locator("[aria-label=edit]").click()
            dialog = page.get_by_role("dialog")
            uri = dialog.locator("input[name=sqlalchemy_uri]")
            expect(uri).to_have_value(
                re.compile(r"^postgresql\+psycopg2://lnob_bi_reader:XXXXXXXXXX@127\.0\.0\.1:\d+/"),
                timeout=30_000,
            )
            dialog.get_by_role("button", name="Test connection").click()
            expect(page.get_by_text("Connection looks good!").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(shots / "bi-superset-database.png"))
        finally:
            browser.close()
