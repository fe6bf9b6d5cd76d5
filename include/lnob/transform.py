"""Run dbt against the configured warehouse.

dbt runs as a subprocess of the task (one clean process per invocation, its own logging) with its
connection fields taken from the one warehouse URL. Marts are built into the audit schema; the
mart data tests run in the ``gate_marts`` stage with the Great Expectations suite, so a failed
check on the audit schema stops publication and leaves ``marts`` untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lnob import pseudonym
from lnob.config import AUDIT_SCHEMA, Settings, settings
from lnob.warehouse import ConnInfo


class DbtError(RuntimeError):
    """A dbt command failed; the message carries the failing nodes."""


@dataclass
class DbtResult:
    command: list[str]
    seconds: float
    results: list[dict] = field(default_factory=list)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.results if r["status"] in ("error", "fail", "runtime error")]


def dbt_env(warehouse_url: str, cfg: Settings | None = None) -> dict[str, str]:
    cfg = cfg or settings()
    info = ConnInfo.from_url(warehouse_url)
    env = dict(os.environ)
    env.update(
        LNOB_DBT_HOST=info.host,
        LNOB_DBT_PORT=str(info.port),
        LNOB_DBT_USER=info.user,
        LNOB_DBT_PASSWORD=info.password,
        LNOB_DBT_DBNAME=info.dbname,
        LNOB_AUDIT_SCHEMA=AUDIT_SCHEMA,
        LNOB_MIN_CELL=str(cfg.min_cell),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DO_NOT_TRACK="1",
        # The pseudonymisation key reaches the warehouse sessions as settings, never SQL text.
        PGOPTIONS=pseudonym.pgoptions(cfg.pseudonym_key, os.environ.get("PGOPTIONS", "")),
    )
    return env


def _dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(args: list[str], warehouse_url: str, cfg: Settings | None = None) -> DbtResult:
    """Run one dbt command; raise :class:`DbtError` naming each failed node."""
    cfg = cfg or settings()
    target = cfg.home / "dbt" / "target"
    logs = cfg.home / "dbt" / "logs"
    cmd = [
        _dbt_executable(), *args,
        "--project-dir", str(cfg.dbt_project_dir),
        "--profiles-dir", str(cfg.dbt_project_dir),
        "--target-path", str(target),
        "--log-path", str(logs),
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, env=dbt_env(warehouse_url, cfg), capture_output=True, text=True,
                          cwd=cfg.dbt_project_dir)
    result = DbtResult(cmd[1:], time.monotonic() - started)
    run_results = target / "run_results.json"
    if run_results.exists():
        doc = json.loads(run_results.read_text())
        result.results = [
            {"node": r["unique_id"], "status": r["status"], "message": r.get("message"),
             "failures": r.get("failures")}
            for r in doc.get("results", [])
        ]
    sys.stdout.write(proc.stdout[-20000:])
    if proc.returncode != 0:
        failed = "\n".join(f"  {r['node']}: {r['status']}: {r['message']}" for r in result.failures)
        raise DbtError(
            f"dbt {' '.join(args)} failed (exit {proc.returncode}):\n{failed or proc.stdout[-4000:]}\n"
            f"{proc.stderr[-2000:]}"
        )
    return result


def build_audit(warehouse_url: str, cfg: Settings | None = None) -> list[DbtResult]:
    """Seeds, staging and intermediate with their tests; then the marts into the audit schema."""
    return [
        run_dbt(["build", "--exclude", "tag:marts"], warehouse_url, cfg),
        run_dbt(["run", "--select", "tag:marts"], warehouse_url, cfg),
    ]


def test_audit(warehouse_url: str, cfg: Settings | None = None) -> DbtResult:
    """The mart data tests (keys, codelists, contracts) on the audit schema."""
    return run_dbt(["test", "--select", "tag:marts"], warehouse_url, cfg)
