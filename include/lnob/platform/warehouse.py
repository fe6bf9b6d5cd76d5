"""The warehouse: an embedded PostgreSQL 16 by default, or any PostgreSQL named by a URL.

The embedded server comes from the ``pgserver`` wheel's binaries. We drive ``initdb`` and
``pg_ctl`` ourselves rather than through ``pgserver.get_server`` because that helper listens on a
Unix socket only, and Great Expectations and Airflow need a host and a port. Every operation is
idempotent: ``start`` on a running server, or ``stop`` on a stopped one, does nothing.

When ``LNOB_WAREHOUSE_URL`` is set, nothing here starts, stops or initialises anything: the URL is
used as it is by every part of the pipeline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from lnob.platform.config import EMBEDDED_DATABASE, Settings, settings
from lnob.platform.errors import Retryable


class WarehouseError(Retryable, RuntimeError):
    """The warehouse could not be reached, started or stopped."""


@dataclass(frozen=True)
class ConnInfo:
    """A PostgreSQL URL taken apart, for tools that want fields (dbt profiles, libpq)."""

    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def from_url(cls, url: str) -> ConnInfo:
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise WarehouseError(f"warehouse URL must start with postgresql://, got {parts.scheme}://")
        if not parts.hostname:
            raise WarehouseError(
                "warehouse URL needs a host and port (postgresql://user:pass@host:port/db); "
                "a socket-only URL is not accepted by Great Expectations or Airflow"
            )
        return cls(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            dbname=(parts.path or "/postgres").lstrip("/") or "postgres",
        )

    def url(self, driver: str = "postgresql") -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{driver}://{auth}@{self.host}:{self.port}/{self.dbname}"


# --------------------------------------------------------------------------------------------
# The embedded server
# --------------------------------------------------------------------------------------------


def _pg_install() -> Path:
    """Where the ``pgserver`` wheel keeps its PostgreSQL build (found without importing the
    package, whose import has side effects we do not need)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError("the pgserver package is not installed: run `make install`")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall"


def _bin(name: str) -> Path:
    return _pg_install() / "bin" / name


SERVER_USER = "pgserver"


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; as root we run it as the ``pgserver`` system user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", SERVER_USER], check=True, capture_output=True)
    return SERVER_USER


def _let_user_reach(path: Path, user: str) -> None:
    """Make every folder above ``path`` traversable, and the PostgreSQL build readable, by the
    server user (needed when the project lives under root's folders)."""
    for parent in list(path.parents)[::-1]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)
    install = _pg_install()
    for parent in list(install.parents)[::-1] + [install]:
        mode = parent.stat().st_mode
        if mode & 0o055 != 0o055:
            parent.chmod(mode | 0o055)
    for root, dirs, files in os.walk(install):
        for d in dirs:
            p = Path(root, d)
            p.chmod(p.stat().st_mode | 0o055)
        for f in files:
            p = Path(root, f)
            mode = p.stat().st_mode
            readable = mode | 0o044
            if mode & 0o100:  # executables stay executable for the server user
                readable |= 0o011
            p.chmod(readable)


def _state_file(cfg: Settings) -> Path:
    return cfg.home / "warehouse.json"


def _read_state(cfg: Settings) -> dict | None:
    path = _state_file(cfg)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _run(args: list[str], user: str | None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        args,
        user=user,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",  # the server user may not be allowed into the caller's working directory
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _init_embedded(cfg: Settings, user: str | None) -> dict:
    """initdb once: superuser ``postgres`` with a random password, password auth over TCP."""
    pgdata = cfg.pgdata
    cfg.home.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    if user:
        import pwd

        _let_user_reach(pgdata, user)
        ent = pwd.getpwnam(user)
        os.chown(pgdata, ent.pw_uid, ent.pw_gid)
    pgdata.chmod(0o700)
    with tempfile.NamedTemporaryFile("w", delete=False, prefix="lnob-pw-") as fh:
        fh.write(password + "\n")
        pwfile = fh.name
    try:
        os.chmod(pwfile, 0o644)  # the server user reads it; removed right after
        res = _run(
            [
                str(_bin("initdb")),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            user,
            timeout=180,
        )
    finally:
        os.unlink(pwfile)
    if res.returncode != 0:
        raise WarehouseError(f"initdb failed for {pgdata}:\n{res.stdout}\n{res.stderr}")
    state = {"port": cfg.embedded_port, "password": password, "database": EMBEDDED_DATABASE}
    path = _state_file(cfg)
    path.write_text(json.dumps(state, indent=2))
    path.chmod(0o600)
    return state


def _embedded_conninfo(cfg: Settings, state: dict, dbname: str | None = None) -> ConnInfo:
    return ConnInfo(
        "127.0.0.1", int(state["port"]), "postgres", state["password"], dbname or state["database"]
    )


def embedded_running(cfg: Settings | None = None) -> bool:
    cfg = cfg or settings()
    if not (cfg.pgdata / "PG_VERSION").exists():
        return False
    res = _run([str(_bin("pg_ctl")), "-D", str(cfg.pgdata), "status"], _system_user())
    return res.returncode == 0


def _running_port(cfg: Settings) -> int | None:
    """The port the running embedded server listens on (line 4 of ``postmaster.pid``), or None."""
    if not embedded_running(cfg):
        return None
    try:
        return int((cfg.pgdata / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, IndexError, ValueError):
        return None


def free_port() -> int:
    """A port nobody listens on now on 127.0.0.1 (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _taken(port: int) -> str:
    return f"port {port} on 127.0.0.1 is taken by another program"


def _choose_port(cfg: Settings, state: dict) -> int:
    """The port to start on: ``LNOB_WAREHOUSE_PORT`` when set (a taken one is a one-line error),
    else the port the server last ran on, or a free one when another program took it (said in
    one line on stderr)."""
    if cfg.embedded_port_explicit:
        port = cfg.embedded_port
        if not _port_free(port):
            raise WarehouseError(
                f"{_taken(port)}: set LNOB_WAREHOUSE_PORT to a free port (e.g. "
                f"LNOB_WAREHOUSE_PORT={free_port()}) or stop that program"
            )
        return port
    port = int(state["port"])
    if not _port_free(port):
        chosen = free_port()
        print(
            f"{_taken(port)}: the embedded warehouse uses port {chosen} instead "
            "(set LNOB_WAREHOUSE_PORT to choose one)",
            file=sys.stderr,
        )
        port = chosen
    return port


def _save_port(cfg: Settings, state: dict, port: int) -> dict:
    if int(state["port"]) != port:
        state = {**state, "port": port}
        path = _state_file(cfg)
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)
    return state


def start(cfg: Settings | None = None) -> str:
    """Start the embedded warehouse (initialising it on first use) and return its URL.

    The port is ``LNOB_WAREHOUSE_PORT`` whenever it is set: a server running on another port is
    restarted on it. Unset, the server keeps the port it last ran on (``warehouse.json``), or moves
    to a free one when another program holds that port. A port conflict is one line
    (:class:`WarehouseError`), never a traceback from PostgreSQL."""
    cfg = cfg or settings()
    if cfg.external_warehouse:
        check_connection(cfg.warehouse_url)
        return cfg.warehouse_url  # type: ignore[return-value]
    user = _system_user()
    state = _read_state(cfg)
    if state is None or not (cfg.pgdata / "PG_VERSION").exists():
        state = _init_embedded(cfg, user)
    running = _running_port(cfg)
    if running is not None and cfg.embedded_port_explicit and running != cfg.embedded_port:
        port = _choose_port(cfg, state)  # checked before the running server is stopped
        print(
            f"the embedded warehouse ran on port {running}; LNOB_WAREHOUSE_PORT={port}: restarting it "
            "on that port",
            file=sys.stderr,
        )
        stop(cfg)
        running = None
    if running is None:
        port = _choose_port(cfg, state)
        log = cfg.pgdata / "server.log"
        before = log.stat().st_size if log.exists() else 0
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
            "-c shared_buffers=256MB -c max_connections=100 -c lock_timeout=0"
        )
        res = _run(
            [
                str(_bin("pg_ctl")),
                "-D",
                str(cfg.pgdata),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                opts,
                "start",
            ],
            user,
            timeout=90,
        )
        if res.returncode != 0:
            tail = log.read_bytes()[before:].decode(errors="replace")[-2000:] if log.exists() else ""
            if "could not bind" in tail or "Address already in use" in tail:  # taken since we looked
                raise WarehouseError(
                    f"{_taken(port)}: set LNOB_WAREHOUSE_PORT to a free port or stop that program"
                )
            raise WarehouseError(f"could not start the embedded warehouse:\n{res.stderr}\n{tail}")
        running = port
    state = _save_port(cfg, state, running)
    _ensure_database(cfg, state)
    return _embedded_conninfo(cfg, state).url()


def _ensure_database(cfg: Settings, state: dict) -> None:
    admin = _embedded_conninfo(cfg, state, dbname="postgres")
    conn = _connect_retry(admin.url())
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (state["database"],))
            if cur.fetchone() is None:
                cur.execute(f'create database "{state["database"]}"')
    finally:
        conn.close()


def _connect_retry(url: str, attempts: int = 20):
    import psycopg2

    last: Exception | None = None
    for _ in range(attempts):
        try:
            return psycopg2.connect(url, connect_timeout=5)
        except psycopg2.OperationalError as exc:  # server still starting up
            last = exc
            time.sleep(0.5)
    raise WarehouseError(f"cannot connect to the warehouse: {last}")


def stop(cfg: Settings | None = None) -> bool:
    """Stop the embedded warehouse. Returns True when a running server was stopped."""
    cfg = cfg or settings()
    if cfg.external_warehouse:
        return False
    if not embedded_running(cfg):
        return False
    res = _run([str(_bin("pg_ctl")), "-D", str(cfg.pgdata), "-m", "fast", "-w", "stop"], _system_user())
    if res.returncode != 0:
        raise WarehouseError(f"could not stop the embedded warehouse:\n{res.stderr}")
    return True


def status(cfg: Settings | None = None) -> dict:
    """What is configured and whether it answers."""
    cfg = cfg or settings()
    if cfg.external_warehouse:
        try:
            check_connection(cfg.warehouse_url)
            up = True
        except WarehouseError:
            up = False
        return {"mode": "external", "running": up, "url": redact(cfg.warehouse_url)}
    state = _read_state(cfg)
    return {
        "mode": "embedded",
        "running": embedded_running(cfg),
        "initialised": state is not None,
        "pgdata": str(cfg.pgdata),
        "port": state["port"] if state else cfg.embedded_port,
    }


def url(cfg: Settings | None = None) -> str:
    """The connection URL of the configured warehouse (the embedded one must have been started once)."""
    cfg = cfg or settings()
    if cfg.external_warehouse:
        return cfg.warehouse_url  # type: ignore[return-value]
    state = _read_state(cfg)
    if state is None:
        raise WarehouseError("the embedded warehouse is not set up yet: run `lnob warehouse start`")
    return _embedded_conninfo(cfg, state).url()


def redact(u: str | None) -> str:
    if not u:
        return ""
    info = ConnInfo.from_url(u)
    secret = ":***" if info.password else ""
    return f"postgresql://{info.user}{secret}@{info.host}:{info.port}/{info.dbname}"


def check_connection(u: str | None) -> None:
    if not u:
        raise WarehouseError("no warehouse URL")
    import psycopg2

    try:
        psycopg2.connect(u, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        raise WarehouseError(f"cannot connect to {redact(u)}: {exc}") from exc


@contextmanager
def connect(u: str | None = None, autocommit: bool = False) -> Iterator:
    """A psycopg2 connection to the warehouse; commits on success, rolls back on error."""
    import psycopg2

    conn = psycopg2.connect(u or url(), connect_timeout=10, application_name="lnob")
    conn.autocommit = autocommit
    try:
        yield conn
        if not autocommit:
            conn.commit()
    except BaseException:
        if not autocommit:
            conn.rollback()
        raise
    finally:
        conn.close()
