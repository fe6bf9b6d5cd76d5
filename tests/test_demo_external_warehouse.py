"""`LNOB_WAREHOUSE_URL=<url> make demo` runs against that PostgreSQL and starts nothing embedded.

The "external" server here is a second embedded PostgreSQL on another port, as a user's own
server would be: the demo must only use its URL.
"""

import json

import psycopg2
import pytest
from helpers import free_port, lnob

pytestmark = pytest.mark.integration


@pytest.fixture
def second_server(tmp_path):
    env = {"LNOB_HOME": str(tmp_path / "second"), "LNOB_WAREHOUSE_PORT": str(free_port())}
    r = lnob("warehouse", "start", env=env)
    assert r.returncode == 0, r.stderr
    url = lnob("warehouse", "url", env=env).stdout.strip()
    yield url
    lnob("warehouse", "stop", env=env)


def test_demo_on_an_external_warehouse(second_server, tmp_path, warehouse_url):
    home = tmp_path / "demo-home"
    env = {
        "LNOB_WAREHOUSE_URL": second_server,
        "LNOB_HOME": str(home),
        "LNOB_LANDING_DIR": str(tmp_path / "landing"),
        "LNOB_REPORTS_DIR": str(tmp_path / "reports"),
        "LNOB_EXPORTS_DIR": str(tmp_path / "exports"),
        "LNOB_DEMO_PERSONS": "2000",
    }
    r = lnob("demo", env={**env, "LNOB_PSEUDONYM_KEY": ""})
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "warehouse (external)" in r.stdout
    assert "throwaway demo key" in r.stdout
    assert "marts.fct_sdg_observation" in r.stdout
    assert not (home / "pgdata").exists()  # nothing embedded was set up
    summary = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert summary["complete"]
    with psycopg2.connect(second_server) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from marts.fct_sdg_observation")
        assert cur.fetchone()[0] == summary["published_tables"]["fct_sdg_observation"] > 0
        cur.execute("select count(*) from raw.aavn_household_survey")
        (delivered,) = (tmp_path / "landing" / "actionaid_vietnam").glob("*/*.csv")
        rows = delivered.read_text(encoding="utf-8-sig").count("\n") - 1  # CRLF lines, header
        assert cur.fetchone()[0] == rows > 0
    # the session's own embedded warehouse saw none of it
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('lnob_meta.delivery_ledger') is not null")
        if cur.fetchone()[0]:
            cur.execute(
                "select count(*) from lnob_meta.delivery_ledger where file_path like %s",
                (str(tmp_path) + "%",),
            )
            assert cur.fetchone()[0] == 0
