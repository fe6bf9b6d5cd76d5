import json
import os

import pytest
from conftest import lnob
from lnob import warehouse
from lnob.config import settings

pytestmark = pytest.mark.integration


def test_embedded_server_listens_on_localhost_port(warehouse_url):
    info = warehouse.ConnInfo.from_url(warehouse_url)
    assert info.host == "127.0.0.1"
    assert info.port == int(os.environ["LNOB_WAREHOUSE_PORT"])
    with warehouse.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("show server_version")
        assert cur.fetchone()[0].startswith("16.")


def test_cli_start_status_url_are_idempotent(warehouse_url):
    for _ in range(2):
        r = lnob("warehouse", "start")
        assert r.returncode == 0, r.stderr
    r = lnob("warehouse", "status")
    assert r.returncode == 0 and json.loads(r.stdout)["running"] is True
    r = lnob("warehouse", "url")
    assert r.stdout.strip() == warehouse_url


def test_data_folder_is_inside_the_project_home_and_password_protected(warehouse_url):
    cfg = settings()
    assert (cfg.pgdata / "PG_VERSION").exists()
    state = cfg.home / "warehouse.json"
    assert oct(state.stat().st_mode)[-3:] == "600"
    wrong = warehouse.ConnInfo.from_url(warehouse_url)
    import psycopg2

    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(warehouse.ConnInfo(wrong.host, wrong.port, wrong.user, "wrong", wrong.dbname).url())


def test_external_url_starts_nothing_embedded(warehouse_url, tmp_path):
    env = {"LNOB_WAREHOUSE_URL": warehouse_url, "LNOB_HOME": str(tmp_path / "home")}
    r = lnob("warehouse", "start", env=env)
    assert r.returncode == 0, r.stderr
    r = lnob("warehouse", "status", env=env)
    assert json.loads(r.stdout)["mode"] == "external"
    assert not (tmp_path / "home" / "pgdata").exists()
    r = lnob("warehouse", "stop", env=env)
    assert "nothing to stop" in r.stdout
    assert warehouse.embedded_running()  # the session's server was not touched


def test_host_less_url_is_refused_with_a_clear_message():
    with pytest.raises(warehouse.WarehouseError, match="needs a host and port"):
        warehouse.ConnInfo.from_url("postgresql:///lnob")
