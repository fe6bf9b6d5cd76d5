"""The Airflow UI in a browser: log in through the simple auth manager's form, open `lnob_nightly`,
see its tasks.

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
import signal
import subprocess
import time
import urllib.request

import pytest
from browser import ensure_chromium, launch
from conftest import BIN, PROJECT, free_port, lnob
from lnob.config import settings

pytestmark = pytest.mark.integration

TASKS = ("api_sources", "fetch_api", "extract", "load_raw", "gate_raw", "transform", "gate_marts", "publish",
         "export", "report")


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
        server = subprocess.Popen([str(BIN / "lnob"), "airflow", "api-server", "--host", "127.0.0.1",
                                   "--port", str(port), "--workers", "1"],
                                  env=env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # its own process group: stopped as one
    try:
        deadline = time.monotonic() + 240  # a cold start takes a minute on a busy machine
        while not _up(f"{base}/api/v2/monitor/health"):
            assert server.poll() is None, "api-server exited:\n" + log_path.read_text()[-5000:]
            assert time.monotonic() < deadline, "api-server not up after 240 s:\n" + log_path.read_text()[-5000:]
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
