"""Apache Superset reads the published marts as ``lnob_bi_reader``, with the dashboard kept as code.

The dashboard lives in ``bi/superset/assets/`` as Superset's own export format (YAML: the
database, three datasets on the labelled ``bi_`` views, three charts, the dashboard), reviewed
and versioned like any other code. ``lnob superset setup`` (the compose job ``superset-setup``,
and ``make superset`` / tests/test_bi.py locally) does, idempotently:

1. logs in to Superset's REST API as its admin;
2. imports the assets (``POST /api/v1/assets/import/``, overwriting what an earlier import made):
   the database ``LNOB marts`` as ``postgresql://lnob_bi_reader@HOST:PORT/DB``, its password
   passed beside the bundle (the YAML holds Superset's mask, never a password);
3. refreshes each dataset's columns from the warehouse (their descriptions are the column
   comments dbt persisted).

Superset never sees the pipeline's own user: a chart can read ``marts`` and nothing else,
PostgreSQL refuses the rest.

Locally Superset runs from its own virtualenv (``requirements-superset.txt``; Superset pins
Flask, SQLAlchemy and marshmallow versions Airflow cannot share) with a SQLite metadata
database: :func:`ensure_venv`, :func:`init_local` and :func:`serve_local`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

import requests

from lnob.platform import roles
from lnob.platform.config import settings

DATABASE_NAME = "LNOB marts"
DATABASE_FILE = "databases/LNOB_marts.yaml"
DASHBOARD_SLUG = "lnob"
TIMEOUT = 120


class SupersetError(RuntimeError):
    pass


def project_dir() -> Path:
    return Path(settings().project_dir)


def assets_dir() -> Path:
    return Path(os.environ.get("LNOB_SUPERSET_ASSETS") or project_dir() / "bi" / "superset" / "assets")


@dataclass(frozen=True)
class Target:
    """Where Superset is, who administers it, and how it reaches the warehouse."""

    url: str
    admin_user: str
    admin_password: str = field(repr=False)
    host: str
    port: int
    dbname: str
    reader_password: str = field(repr=False)

    @classmethod
    def from_env(cls) -> Target:
        cfg = settings()
        missing = [v for v in ("LNOB_SUPERSET_ADMIN_PASSWORD",) if not os.environ.get(v)]
        if not cfg.warehouse_url:
            missing.append("LNOB_WAREHOUSE_URL")
        if missing:
            raise SupersetError("superset setup needs " + ", ".join(missing))
        wh = urlsplit(cfg.warehouse_url or "")
        return cls(
            url=os.environ.get("LNOB_SUPERSET_URL", "http://localhost:8088").rstrip("/"),
            admin_user=os.environ.get("LNOB_SUPERSET_ADMIN_USER", "admin"),
            admin_password=os.environ["LNOB_SUPERSET_ADMIN_PASSWORD"],
            # the warehouse as Superset sees it (its container may see another host than the pipeline)
            host=os.environ.get("LNOB_SUPERSET_DATABASE_HOST") or wh.hostname or "localhost",
            port=int(os.environ.get("LNOB_SUPERSET_DATABASE_PORT") or wh.port or 5432),
            dbname=wh.path.lstrip("/") or "lnob",
            reader_password=roles.reader_password(cfg),
        )


def bundle(t: Target, assets: Path | None = None) -> bytes:
    """The assets as the ZIP Superset imports, the database's host, port and name filled in."""
    assets = assets or assets_dir()
    if not (assets / "metadata.yaml").is_file():
        raise SupersetError(f"no Superset assets at {assets} (metadata.yaml missing)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(assets.rglob("*.yaml")):
            name = path.relative_to(assets).as_posix()
            text = path.read_text()
            if name == DATABASE_FILE:
                text = Template(text).substitute(host=t.host, port=t.port, dbname=t.dbname)
            zf.writestr(f"lnob_superset/{name}", text)
    return out.getvalue()


def _check(resp: requests.Response, what: str) -> dict:
    if resp.status_code >= 400:
        raise SupersetError(f"superset {what}: HTTP {resp.status_code}: {resp.text[:800].strip()}")
    return resp.json() if resp.content else {}


def login(http: requests.Session, t: Target) -> None:
    """A bearer token and a CSRF token on ``http`` (Superset's API wants both for writes)."""
    done = _check(
        http.post(
            f"{t.url}/api/v1/security/login",
            timeout=TIMEOUT,
            json={"username": t.admin_user, "password": t.admin_password, "provider": "db", "refresh": True},
        ),
        "login",
    )
    http.headers["Authorization"] = f"Bearer {done['access_token']}"
    csrf = _check(http.get(f"{t.url}/api/v1/security/csrf_token/", timeout=TIMEOUT), "csrf token")
    http.headers.update({"X-CSRFToken": csrf["result"], "Referer": t.url})


def _ids(http: requests.Session, t: Target, kind: str, column: str, values: list[str]) -> dict[str, int]:
    q = "(filters:!((col:{},opr:in,value:!({}))),page_size:100)".format(
        column, ",".join("'{}'".format(v.replace("'", "!'")) for v in values)
    )
    found = _check(http.get(f"{t.url}/api/v1/{kind}/", params={"q": q}, timeout=TIMEOUT), f"list {kind}")
    return {row[column]: row["id"] for row in found.get("result", [])}


def setup(target: Target | None = None, assets: Path | None = None) -> list[str]:
    """Import the dashboard and its database, datasets and charts; returns what it did."""
    import yaml

    t = target or Target.from_env()
    assets = assets or assets_dir()
    datasets = [
        yaml.safe_load(p.read_text())["table_name"] for p in sorted((assets / "datasets").rglob("*.yaml"))
    ]
    with requests.Session() as http:
        login(http, t)
        _check(
            http.post(
                f"{t.url}/api/v1/assets/import/",
                timeout=TIMEOUT,
                files={"bundle": ("lnob_superset.zip", bundle(t, assets), "application/zip")},
                data={"passwords": json.dumps({DATABASE_FILE: t.reader_password})},
            ),
            "import assets",
        )
        done = [
            f"imported {assets}: database {DATABASE_NAME!r} as postgresql://{roles.READER}@{t.host}:{t.port}/"
            f"{t.dbname}, datasets {', '.join(datasets)}, dashboard /superset/dashboard/{DASHBOARD_SLUG}/"
        ]
        for name, pk in sorted(_ids(http, t, "dataset", "table_name", datasets).items()):
            try:
                _check(
                    http.put(f"{t.url}/api/v1/dataset/{pk}/refresh", timeout=TIMEOUT),
                    f"refresh dataset {name}",
                )
            except SupersetError as exc:
                # before the first night publishes, marts has no such view yet: the charts work once it
                # does (the columns they use are declared in the YAML); run the setup again for the rest
                done.append(
                    f"dataset {name} (id {pk}) not refreshed, run the setup again after a night has "
                    f"published marts.{name}: {exc}"
                )
                continue
            done.append(f"refreshed the columns of dataset {name} (id {pk}) from the warehouse")
    return done


# --- Superset on this machine: its own virtualenv, SQLite metadata --------------------------------


def requirements() -> Path:
    return project_dir() / "requirements-superset.txt"


def venv_dir() -> Path:
    return Path(os.environ.get("LNOB_SUPERSET_VENV") or project_dir() / ".lnob" / "superset-venv")


def _stamp(venv: Path) -> Path:
    digest = hashlib.sha1(requirements().read_bytes()).hexdigest()[:12]
    return venv / f".installed-{digest}"


def ensure_venv(venv: Path | None = None, python: str | None = None) -> float:
    """Superset's virtualenv, installed from requirements-superset.txt unless the stamp of this
    file's hash is there already; returns the seconds the install took (0 when cached)."""
    venv = venv or venv_dir()
    stamp = _stamp(venv)
    if stamp.exists() and (venv / "bin" / "superset").exists():
        return 0.0
    started = time.monotonic()
    if not (venv / "bin" / "python").exists():
        subprocess.run([python or sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(requirements()),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SupersetError(
            f"installing Superset into {venv} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    for old in venv.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return time.monotonic() - started


def config_file() -> Path:
    """bi/superset/superset_config.py: the one configuration file, here and in production."""
    return project_dir() / "bi" / "superset" / "superset_config.py"


def local_environment(home: Path) -> dict[str, str]:
    """Superset's environment for a local instance whose metadata (SQLite) and secret key live in
    ``home`` (the key is made once, mode 600)."""
    key = home / "secret_key"
    if not key.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(42))
    return {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(config_file()),
        "FLASK_APP": "superset",
        "SUPERSET_HOME": str(home),
        "SUPERSET_SECRET_KEY": key.read_text().strip(),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{home / 'superset.db'}",
        "PYTHONWARNINGS": "ignore",
    }


def init_local(home: Path, admin_password: str, venv: Path | None = None) -> None:
    """A Superset home: SQLite metadata migrated, roles and permissions, the admin (what the
    compose job ``superset-init`` does on PostgreSQL)."""
    venv = venv or venv_dir()
    home.mkdir(parents=True, exist_ok=True)
    env = local_environment(home)
    superset = str(venv / "bin" / "superset")
    for args in (
        ["db", "upgrade"],
        [
            "fab",
            "create-admin",
            "--username",
            "admin",
            "--firstname",
            "LNOB",
            "--lastname",
            "Admin",
            "--email",
            "admin@lnob.invalid",
            "--password",
            admin_password,
        ],
        ["init"],
    ):
        done = subprocess.run(
            [superset, *args], env=env, cwd=home, capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise SupersetError(
                f"superset {' '.join(args[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
            )


def serve_local(home: Path, port: int, log: Path, venv: Path | None = None) -> subprocess.Popen:
    """``superset run`` on 127.0.0.1:``port`` in its own process group (stop it with os.killpg)."""
    venv = venv or venv_dir()
    with open(log, "w") as fh:
        return subprocess.Popen(
            [str(venv / "bin" / "superset"), "run", "-h", "127.0.0.1", "-p", str(port), "--with-threads"],
            env=local_environment(home),
            cwd=home,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_up(url: str, server: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if server.poll() is not None:
            raise SupersetError(f"superset exited ({server.returncode}):\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise SupersetError(f"superset not up after {seconds:.0f} s:\n{log.read_text()[-4000:]}")
        time.sleep(2)


def serve_with_dashboard(port: int = 8088) -> int:
    """``make superset``: Superset on this machine, reading the embedded (or configured) warehouse
    as lnob_bi_reader, the dashboard imported; runs until interrupted."""
    import signal

    from lnob.platform import warehouse

    cfg = settings()
    home = Path(cfg.home) / "superset"
    home.mkdir(parents=True, exist_ok=True)
    password_file = home / "admin_password"
    if not password_file.exists():
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(18))
    password = password_file.read_text().strip()
    seconds = ensure_venv()
    if seconds:
        print(f"installed Superset into {venv_dir()} in {seconds:.0f} s")
    init_local(home, password)
    info = urlsplit(warehouse.start(cfg))
    base = f"http://127.0.0.1:{port}"
    log = home / "superset.log"
    server = serve_local(home, port, log)

    def stop(signum, frame):  # a SIGTERM (a service manager, `timeout`) stops Superset too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        wait_up(base, server, log)
        target = Target(
            url=base,
            admin_user="admin",
            admin_password=password,
            host=info.hostname or "127.0.0.1",
            port=info.port or 5432,
            dbname=info.path.lstrip("/") or "lnob",
            reader_password=roles.reader_password(cfg),
        )
        for line in setup(target):
            print(line)
        print(
            f"Superset: {base}/superset/dashboard/{DASHBOARD_SLUG}/  (user admin; password in {password_file})"
        )
        print(f"log: {log}; Ctrl-C stops it")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    return 0
