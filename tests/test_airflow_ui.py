"""The Airflow UI in a browser: log in through the simple auth manager's form, open `lnob_nightly`,
see its tasks; after one night (`lnob demo`, as a newcomer runs it, on a small sample), the grid's
mapped load_raw/gate_raw instances named after their source and delivery, and the Assets page
listing every published mart with the night's row counts on its asset event.

The test session's AIRFLOW_HOME (conftest) gets the DAG serialised (`airflow dags reserialize`,
what the dag-processor of `make airflow` does) and an `airflow api-server` (the UI and its API;
`make airflow` runs the same server inside `airflow standalone`) on a free port, through
`lnob airflow` like a user. Headless Debian Chromium logs in as `admin` with the password Airflow
generated into `$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`. Everything started
here is stopped here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from browser import ensure_chromium, launch
from helpers import BIN, PROJECT, free_port, lnob
from lnob.platform.config import settings

pytestmark = pytest.mark.integration

TASKS = (
    "api_sources",
    "fetch_api",
    "extract",
    "load_raw",
    "gate_raw",
    "transform",
    "gate_marts",
    "publish",
    "export",
    "report",
)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def airflow_ui(warehouse_url, session_dir):
    """`lnob airflow api-server` on a free port (the DAG serialised first); yields its base URL."""
    done = lnob("airflow", "dags", "reserialize", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AIRFLOW__API__BASE_URL": base, "AIRFLOW__API__PORT": str(port)}
    log_path = session_dir / "api-server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                str(BIN / "lnob"),
                "airflow",
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            cwd=PROJECT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # its own process group: stopped as one
    try:
        deadline = time.monotonic() + 240  # a cold start takes a minute on a busy machine
        while not _up(f"{base}/api/v2/monitor/health"):
            assert server.poll() is None, "api-server exited:\n" + log_path.read_text()[-5000:]
            assert time.monotonic() < deadline, (
                "api-server not up after 240 s:\n" + log_path.read_text()[-5000:]
            )
            time.sleep(2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _admin_password() -> str:
    path = settings().airflow_home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not generated"
        time.sleep(1)
    return json.loads(path.read_text())["admin"]


def test_login_and_see_the_nightly_dag(airflow_ui, session_dir):
    from playwright.sync_api import expect, sync_playwright

    ensure_chromium()
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{airflow_ui}/dags/lnob_nightly/tasks")
            # not logged in: the simple auth manager's login form
            page.wait_for_url("**/auth/login**", timeout=60_000)
            page.locator("input[name='username']").fill("admin")
            page.locator("input[name='password']").fill(_admin_password())
            page.locator("button[type='submit']").click()
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
            assert any(c["name"] == "_token" for c in page.context.cookies())

            page.goto(f"{airflow_ui}/dags/lnob_nightly/tasks")
            for task in TASKS:
                expect(page.get_by_text(task, exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text("lnob_nightly").first).to_be_visible()
            page.screenshot(path=str(session_dir / "airflow-ui.png"), full_page=True)
        finally:
            browser.close()


NIGHT = "2026-11-21"  # the session's published night (conftest)
#: where the lead picks the screenshots up (copied there as well as into the session folder)
SHOTS = Path(os.environ.get("LNOB_SCREENSHOTS", "/work/screenshots"))


def _shot(page, session_dir: Path, name: str) -> None:
    path = session_dir / f"ui-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / path.name)
    except OSError:  # a machine without /work: the session folder has it
        pass


@pytest.fixture(scope="module")
def demo_night(published_night):
    """The session's night (conftest: `lnob demo` on a small sample on a clean warehouse, as a
    newcomer runs it): its terminal output, its summary and the night the UI tests look at."""
    return {
        "run": published_night.run,
        "seconds": published_night.seconds,
        "summary": published_night.summary,
        "marts": published_night.marts,
    }


def test_demo_talks_like_a_tool(demo_night):
    """A short terminal output: no colour codes (not a terminal), the summary once, what was
    loaded, gated and published, where to look and what to run next; Airflow's, dbt's and GX's
    output in the log file whose path it prints."""
    run, s = demo_night["run"], demo_night["summary"]
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert s["complete"], s["problems"]
    assert "\x1b[" not in out + run.stderr
    lines = out.splitlines()
    assert len(lines) < 80, out  # the issue counted 1,076
    assert out.count(f"Night of {NIGHT}: complete") == 1
    for words in (
        "loaded ",
        "quarantined ",
        "gates ",
        "published ",
        "Where to look",
        "run report",
        "What next",
        "make airflow",
    ):
        assert words in out, (words, out)
    rows = sum(v["rows_loaded"] for v in s["sources"].values())
    assert f"{rows:,d} rows" in out
    # one progress line per task instance, the mapped ones by source
    assert re.search(
        r"^  success +load_raw +aavn_household_survey \(actionaid_vietnam, 1 new delivery", out, re.M
    )
    log_path = Path(re.search(r"full log +(\S+\.log)$", out, re.M).group(1))
    log = log_path.read_text()
    assert "[DAG TEST] end task task_id=report" in log  # Airflow's output went there, not to the terminal
    assert "[DAG TEST]" not in out
    # the task logs say what the stage did: dbt's progress per model, GX's INFO chatter gone
    assert re.search(r"dbt model fct_sdg_observation \(table\): [\d,]+ rows, [\d.]+s", log), log[-3000:]
    assert "great_expectations" not in log
    assert "publish: marts_audit swapped into marts" in log


def _token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "_token")


def _login(page, base: str) -> None:
    page.goto(f"{base}/dags/lnob_nightly")
    page.wait_for_url("**/auth/login**", timeout=60_000)
    page.locator("input[name='username']").fill("admin")
    page.locator("input[name='password']").fill(_admin_password())
    page.locator("button[type='submit']").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)


def _api(page, base: str, path: str) -> dict:
    resp = page.request.get(f"{base}/api/v2{path}", headers={"Authorization": f"Bearer {_token(page)}"})
    assert resp.ok, (path, resp.status, resp.text()[:500])
    return resp.json()


def test_grid_names_mapped_instances_and_assets_list_the_marts(demo_night, airflow_ui, session_dir):
    from playwright.sync_api import expect, sync_playwright

    run_id = quote(demo_night["summary"]["run_id"], safe="")
    sources = set(demo_night["summary"]["sources"])
    ensure_chromium()
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        try:
            _login(page, airflow_ui)
            # the mapped instances as the API gives them to the UI: one per source, named
            mapped = _api(
                page, airflow_ui, f"/dags/lnob_nightly/dagRuns/{run_id}/taskInstances/load_raw/listMapped"
            )
            names = [ti["rendered_map_index"] for ti in mapped["task_instances"]]
            assert {n.split(" (")[0] for n in names} == sources, names
            assert all(re.fullmatch(r"\w+ \(\w+, \d+ new deliver(y: .+|ies)\)", n) for n in names), names
            # the grid of the night, then the mapped load_raw instances by name
            page.goto(f"{airflow_ui}/dags/lnob_nightly/runs/{run_id}")
            expect(page.get_by_text("load_raw").first).to_be_visible(timeout=60_000)
            _shot(page, session_dir, "grid")
            for task in ("load_raw", "gate_raw"):
                page.goto(f"{airflow_ui}/dags/lnob_nightly/runs/{run_id}/tasks/{task}/mapped")
                for name in names:
                    expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
                _shot(page, session_dir, f"mapped-{task}")

            # the demo's task logs are in the UI (`dags test` prints them; the demo files them)
            page.goto(f"{airflow_ui}/dags/lnob_nightly/runs/{run_id}/tasks/publish")
            expect(page.get_by_text("publish: marts_audit swapped into marts").first).to_be_visible(
                timeout=60_000
            )
            _shot(page, session_dir, "log-publish")
            logs = _api(
                page, airflow_ui, f"/dags/lnob_nightly/dagRuns/{run_id}/taskInstances/transform/logs/1"
            )
            events = [e.get("event", "") for e in logs["content"] if isinstance(e, dict)]
            assert any(
                re.match(r"dbt model fct_sdg_observation \(table\): [\d,]+ rows", e) for e in events
            ), events

            # the Assets page lists every published mart
            page.goto(f"{airflow_ui}/assets")
            for table in demo_night["marts"]:
                expect(page.get_by_text(f"marts.{table}", exact=True).first).to_be_visible(timeout=60_000)
            _shot(page, session_dir, "assets")
            # and each mart's event of the night carries its published row count
            published = demo_night["summary"]["published_tables"]
            assert set(demo_night["marts"]) == set(published), (demo_night["marts"], published)
            events = _api(page, airflow_ui, "/assets/events?limit=100&order_by=-timestamp")["asset_events"]
            tonight = {
                e["uri"].rsplit("/", 1)[1]: e["extra"]
                for e in events
                if (e.get("extra") or {}).get("run_id") == demo_night["summary"]["run_id"]
            }
            assert {t: x["rows"] for t, x in tonight.items()} == published, tonight
            assert all(x["night"] == NIGHT for x in tonight.values())
            fct = next(
                a
                for a in _api(page, airflow_ui, "/assets?limit=100")["assets"]
                if a["name"] == "marts.fct_sdg_observation"
            )
            page.goto(f"{airflow_ui}/assets/{fct['id']}")
            expect(page.get_by_text("marts.fct_sdg_observation").first).to_be_visible(timeout=60_000)
            _shot(page, session_dir, "asset-fct_sdg_observation")
        finally:
            browser.close()


def test_airflow_port_sets_every_setting_that_depends_on_it(warehouse_url):
    """`make airflow PORT=8090` (LNOB_AIRFLOW_PORT): the api-server's port, the UI's base URL and
    the Task Execution API URL the tasks call all follow (setting AIRFLOW__API__PORT alone used to
    leave the tasks calling 8080: `Connection refused`); a taken port is one line, nothing started."""
    import socket

    port = free_port()
    env = {"LNOB_AIRFLOW_PORT": str(port), "AIRFLOW__API__PORT": "", "AIRFLOW__API__BASE_URL": ""}
    for section, key, expected in (
        ("api", "port", str(port)),
        ("api", "base_url", f"http://localhost:{port}"),
        ("core", "execution_api_server_url", f"http://localhost:{port}/execution/"),
    ):
        got = lnob("airflow", "config", "get-value", section, key, env=env)
        assert got.returncode == 0 and got.stdout.strip().splitlines()[-1] == expected, (
            key,
            got.stdout,
            got.stderr,
        )
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen(1)
        refused = lnob("airflow", "standalone", env=env, timeout=120)
    assert refused.returncode == 2 and not refused.stdout
    assert refused.stderr.count("\n") == 1 and f"port {port} is taken" in refused.stderr, refused.stderr
    assert "make airflow PORT=" in refused.stderr
