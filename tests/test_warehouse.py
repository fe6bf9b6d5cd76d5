import json
import os
import subprocess

import pytest
from helpers import BIN, PROJECT, lnob
from lnob.platform import warehouse
from lnob.platform.config import settings

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


def _listening_socket(port: int):
    """Another program on ``port``: a real socket bound and listening on 127.0.0.1. With
    SO_REUSEADDR, as servers (PostgreSQL among them) bind: a port the warehouse has just left may
    still have connections in TIME_WAIT, and a plain bind to it fails (seen once in CI)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


def test_port_conflict_is_one_line_and_a_changed_port_is_honoured(warehouse_url, tmp_path):
    """A second embedded warehouse in its own home (the session's is not touched): a port held by
    another program is answered in one line, never a traceback; a changed LNOB_WAREHOUSE_PORT moves
    the server, stopped or running; unset, a taken port is replaced by a free one."""
    import psycopg2
    from helpers import free_port

    home = {"LNOB_HOME": str(tmp_path / "home")}
    held = free_port()
    blocker = _listening_socket(held)
    try:
        r = lnob("warehouse", "start", env={**home, "LNOB_WAREHOUSE_PORT": str(held)})
        assert r.returncode == 2, r.stdout + r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        assert f"port {held} on 127.0.0.1 is taken by another program" in lines[0], lines
        assert "LNOB_WAREHOUSE_PORT=" in lines[0]  # says what to do

        first = free_port()
        r = lnob("warehouse", "start", env={**home, "LNOB_WAREHOUSE_PORT": str(first)})
        assert r.returncode == 0, r.stderr
        r = lnob("warehouse", "url", env=home)
        assert warehouse.ConnInfo.from_url(r.stdout.strip()).port == first

        # changed while running: restarted on the new port, and the old one is free again
        second = free_port()
        r = lnob("warehouse", "start", env={**home, "LNOB_WAREHOUSE_PORT": str(second)})
        assert r.returncode == 0, r.stderr
        url = lnob("warehouse", "url", env=home).stdout.strip()
        assert warehouse.ConnInfo.from_url(url).port == second
        psycopg2.connect(url, connect_timeout=5).close()
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(
                warehouse.ConnInfo("127.0.0.1", first, "postgres", "x", "lnob").url(), connect_timeout=3
            )

        # changed while stopped: started on the new port
        assert "stopped" in lnob("warehouse", "stop", env=home).stdout
        third = free_port()
        r = lnob("warehouse", "start", env={**home, "LNOB_WAREHOUSE_PORT": str(third)})
        assert r.returncode == 0, r.stderr
        assert warehouse.ConnInfo.from_url(lnob("warehouse", "url", env=home).stdout.strip()).port == third
        assert lnob("warehouse", "stop", env=home).returncode == 0

        # unset, and the last port is taken by another program: a free one, said in one line
        other = _listening_socket(third)
        try:
            unset = {k: v for k, v in os.environ.items() if k != "LNOB_WAREHOUSE_PORT"}
            r = subprocess.run(
                [str(BIN / "lnob"), "warehouse", "start"],
                env={**unset, **home},
                capture_output=True,
                text=True,
                timeout=300,
                cwd=PROJECT,
            )
            assert r.returncode == 0, r.stderr
            notice = r.stderr.strip().splitlines()
            assert len(notice) == 1 and f"port {third} on 127.0.0.1 is taken" in notice[0], r.stderr
            url = lnob("warehouse", "url", env=home).stdout.strip()
            moved = warehouse.ConnInfo.from_url(url).port
            assert moved != third and f"uses port {moved} instead" in notice[0]
            psycopg2.connect(url, connect_timeout=5).close()
        finally:
            other.close()
    finally:
        blocker.close()
        lnob("warehouse", "stop", env=home)
    assert warehouse.embedded_running()  # the session's server was not touched
