"""Airflow on the CeleryExecutor on one machine, as docker-compose.yml runs it on several: a real
Redis broker (Debian's ``redis-server`` on 127.0.0.1), Airflow's metadata database in PostgreSQL
(a database of its own on the warehouse's server), the api-server, scheduler and dag-processor, and
N ``airflow celery worker`` processes, each with its own name (``LNOB_WORKER_NAME``, recorded as the
task instances' hostname through ``lnob.airflow.airflow_env.worker_hostname``).

Used by ``tests/test_celery_scale_out.py`` and ``make bench-celery`` (``lnob_dev.bench_celery``).
Everything started here runs in its own process group and is stopped here; nothing else is touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from lnob.airflow import airflow_env
from lnob.platform.warehouse import ConnInfo

DAG_ID = "lnob_nightly"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Redis -------------------------------------------------------------------------------------


def redis_server_bin() -> str:
    """The path of Debian's ``redis-server``, installed with apt-get when it is missing (CI runs as
    root on a clean machine: the project installs what its tests need)."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("redis-server is missing: apt-get install -y redis-server (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise RuntimeError("apt-get installed redis-server, but it is not there")
    return found


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(port: int | None = None) -> Iterator[str]:
    """``redis-server`` on 127.0.0.1 (no persistence, a temporary folder of its own); yields its URL
    ``redis://127.0.0.1:<port>/0`` and stops it on exit."""
    binary = redis_server_bin()
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="lnob-redis-"))
    log = workdir / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(workdir),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str(log),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not _redis_ping(port):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited ({proc.returncode}):\n"
                    + (log.read_text()[-3000:] if log.exists() else "")
                )
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING within 30 s")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


# --- processes ---------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_tree(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to the process group of ``proc`` and to every descendant: Airflow's task runner puts
    itself in a process group of its own, so the group alone would leave it running."""
    pids = _descendants(proc.pid)
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    _signal_tree(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_tree(proc, signal.SIGKILL)
        proc.wait(timeout=10)
    # stragglers of the group (pool children that outlived their parent)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except OSError:
        return False


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: Path


@dataclass
class CeleryAirflow:
    """A running CeleryExecutor deployment on this machine (see :func:`celery_airflow`)."""

    env: dict[str, str]
    metadata_url: str
    workdir: Path
    workers: list[Worker] = field(default_factory=list)
    services: dict[str, subprocess.Popen] = field(default_factory=dict)

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [airflow_env.airflow_bin(), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({done.returncode}):\n"
                + done.stdout[-3000:]
                + done.stderr[-3000:]
            )
        return done

    def connect(self):
        import psycopg2

        conn = psycopg2.connect(self.metadata_url.replace("postgresql+psycopg2://", "postgresql://"))
        conn.autocommit = True
        return conn

    def trigger(self, night: date, run_id: str | None = None) -> str:
        """A run of the nightly DAG for ``night`` (logical date at 02:00 UTC, as the schedule)."""
        run_id = run_id or f"celery__{night.isoformat()}__{secrets.token_hex(3)}"
        self.airflow("dags", "unpause", DAG_ID)
        self.airflow(
            "dags",
            "trigger",
            DAG_ID,
            "--run-id",
            run_id,
            "--logical-date",
            f"{night.isoformat()}T02:00:00+00:00",
        )
        return run_id

    def run_state(self, run_id: str) -> str | None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("select state from dag_run where dag_id = %s and run_id = %s", (DAG_ID, run_id))
            row = cur.fetchone()
        return row[0] if row else None

    def wait(self, run_id: str, timeout: float = 900, poll: float = 2.0) -> str:
        """Wait until the run is finished; returns its state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run_state(run_id)
            if state in ("success", "failed"):
                return state
            for name, proc in self.services.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"the {name} exited ({proc.returncode}):\n" + self.tail(name))
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"run {run_id} still {state} after {timeout:.0f} s\n" + self.tail("scheduler")
                )
            time.sleep(poll)

    def task_instances(self, run_id: str, task_id: str | None = None) -> list[dict]:
        """Every try of the run's task instances: the current one (``task_instance``) and the
        earlier ones (``task_instance_history``), with hostname, state and times."""
        cols = "task_id, map_index, try_number, state, hostname, start_date, end_date, rendered_map_index"
        where = "dag_id = %(dag)s and run_id = %(run)s" + (" and task_id = %(task)s" if task_id else "")
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"select {cols}, false from task_instance where {where} "
                f"union all select {cols}, true from task_instance_history where {where} "
                "order by 1, 2, 3",
                {"dag": DAG_ID, "run": run_id, "task": task_id},
            )
            names = [*cols.split(", "), "history"]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def worker(self, name: str) -> Worker:
        (found,) = [w for w in self.workers if w.name == name]
        return found

    def kill_worker(self, name: str) -> None:
        """SIGKILL to a worker and everything it started (its process group and every descendant:
        the Celery pool, the task supervisor, the task runner): the worker's machine dying."""
        worker = self.worker(name)
        _signal_tree(worker.proc, signal.SIGKILL)
        worker.proc.wait(timeout=30)

    def tail(self, name: str, chars: int = 4000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _metadata_database(warehouse_url: str, dbname: str) -> str:
    """A fresh database ``dbname`` on the warehouse's PostgreSQL server for Airflow's metadata;
    returns its SQLAlchemy URL."""
    import psycopg2
    from psycopg2 import sql

    info = ConnInfo.from_url(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (dbname,))
        cur.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(dbname)))
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    conn.close()
    return ConnInfo(info.host, info.port, info.user, info.password, dbname).url("postgresql+psycopg2")


@contextmanager
def celery_airflow(
    warehouse_url: str,
    workers: int = 2,
    concurrency: int = 2,
    workdir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    metadata_db: str = "lnob_airflow_celery",
    dag_processor: bool = True,
) -> Iterator[CeleryAirflow]:
    """Start Redis and Airflow on the CeleryExecutor with ``workers`` Celery workers (named
    ``worker-1``, ``worker-2``, ...; ``concurrency`` task slots each), yield the deployment, and
    stop everything on exit. Scheduled runs are off (``use_job_schedule``): only the runs
    :meth:`CeleryAirflow.trigger` creates run."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="lnob-celery-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with redis_server() as broker:
        metadata_url = _metadata_database(warehouse_url, metadata_db)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = airflow_env.celery_environment(
            warehouse_url, metadata_url, broker, base, jwt_secret=secrets.token_urlsafe(32)
        )
        env.update(
            AIRFLOW_HOME=str(workdir / "airflow"),
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(concurrency),
            **(extra_env or {}),
        )
        cluster = CeleryAirflow(env=env, metadata_url=metadata_url, workdir=workdir)
        started: list[subprocess.Popen] = []

        def spawn(name: str, args: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen:
            log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(
                [airflow_env.airflow_bin(), *args],
                env={**env, **(extra or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            started.append(proc)
            return proc

        try:
            cluster.airflow("db", "migrate", timeout=900)
            cluster.airflow("dags", "reserialize", timeout=600)
            cluster.services["api-server"] = spawn(
                "api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
            )
            cluster.services["scheduler"] = spawn("scheduler", ["scheduler"])
            if dag_processor:  # task callbacks (a killed worker's task) are run by the dag-processor
                cluster.services["dag-processor"] = spawn("dag-processor", ["dag-processor"])
            for i in range(1, workers + 1):
                name = f"worker-{i}"
                # the log server of each worker would want the same port: the logs are on this disk
                proc = spawn(
                    name,
                    [
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"{name}@%h",
                        "--concurrency",
                        str(concurrency),
                        "--skip-serve-logs",
                    ],
                    {airflow_env.WORKER_NAME_VAR: name},
                )
                cluster.workers.append(Worker(name, proc, workdir / f"{name}.log"))
            deadline = time.monotonic() + 300
            while not _up(f"{base}/api/v2/monitor/health"):
                for name, proc in cluster.services.items():
                    if proc.poll() is not None:
                        raise RuntimeError(f"the {name} exited:\n" + cluster.tail(name))
                if time.monotonic() > deadline:
                    raise TimeoutError("the api-server is not up after 300 s:\n" + cluster.tail("api-server"))
                time.sleep(1)
            for w in cluster.workers:
                while " ready." not in w.log.read_text(errors="replace"):
                    if w.proc.poll() is not None:
                        raise RuntimeError(f"{w.name} exited:\n" + cluster.tail(w.name))
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{w.name} is not ready after 300 s:\n" + cluster.tail(w.name))
                    time.sleep(1)
            yield cluster
        finally:
            for proc in reversed(started):
                _stop(proc)
