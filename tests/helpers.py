"""What the test modules share: paths, the `lnob` command line, a free port, the warehouse reset and
the published night every read-only test reads. Imported as ``from helpers import ...`` (pytest's
conftest is a plugin, not a module to import from); conftest.py holds the fixtures and sets the
session's environment before anything here reads it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: Every schema the project writes in the warehouse.
PROJECT_SCHEMAS = "raw, lnob_meta, staging, intermediate, reference, marts, marts_audit, marts_previous"


def free_port() -> int:
    """A port nobody listens on now, so a stale server elsewhere cannot break the suite."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lnob(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the `lnob` command line as a user would."""
    return subprocess.run(
        [str(BIN / "lnob"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
    )


def clean_warehouse(warehouse_url: str, landing: bool = False) -> None:
    """Drop every schema the project writes (and, with ``landing``, the landing folder): a test
    module starts from an empty warehouse."""
    import psycopg2
    from lnob.platform.config import settings

    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"drop schema if exists {PROJECT_SCHEMAS} cascade")
    conn.close()
    if landing:
        shutil.rmtree(settings().landing_dir, ignore_errors=True)


def csv_data_rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> int:
    """How many data rows a delivered CSV holds (what a loader must load, no more, no less)."""
    import csv

    with open(path, encoding=encoding, newline="") as fh:
        return sum(1 for _ in csv.reader(fh, delimiter=delimiter)) - 1


def blocking_registry(tmp_path: Path, source_id: str) -> Path:
    """A copy of the registry in which ``source_id`` has ``gate_policy: block`` (point
    ``LNOB_REGISTRY`` at it): its problems stop the night instead of holding it back."""
    from lnob.platform.config import settings

    text = settings().registry_path.read_text()
    start = text.index(f"  - id: {source_id}\n")
    end = text.index("    gate_policy: quarantine", start)
    path = tmp_path / "registry.yml"
    path.write_text(text[:end] + "    gate_policy: block" + text[end + len("    gate_policy: quarantine") :])
    return path
