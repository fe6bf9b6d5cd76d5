"""Configuration in one place, read from the environment with defaults that run locally.

Every part of the project (loader, dbt, Great Expectations, Airflow) reads its settings through
:func:`settings`, so one environment variable changes them all: ``LNOB_WAREHOUSE_URL`` points the
whole pipeline at an external PostgreSQL and then nothing embedded is started.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

#: Schemas of the warehouse, named once.
RAW_SCHEMA = "raw"
META_SCHEMA = "lnob_meta"
STAGING_SCHEMA = "staging"
INTERMEDIATE_SCHEMA = "intermediate"
AUDIT_SCHEMA = "marts_audit"
PUBLISHED_SCHEMA = "marts"
PREVIOUS_SCHEMA = "marts_previous"

DEFAULT_EMBEDDED_PORT = 55432
EMBEDDED_DATABASE = "lnob"


def _project_dir() -> Path:
    env = os.environ.get("LNOB_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    # include/lnob/config.py -> repository root (the package is installed editable).
    return Path(__file__).resolve().parents[2]



class ConfigurationError(RuntimeError):
    """The pipeline is misconfigured (not a partner's fault): the task must fail loudly, at once."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one process. Paths are absolute."""

    project_dir: Path
    home: Path
    landing_dir: Path
    quarantine_dir: Path
    exports_dir: Path
    reports_dir: Path
    warehouse_url: str | None
    embedded_port: int
    pseudonym_key: str | None
    min_cell: int
    row_count_band: float
    #: limits set on the ``lnob_bi_reader`` login (``ALTER ROLE``), so a BI session cannot hold a
    #: night hostage: PostgreSQL durations (``'5min'``, ``'30s'``) and a connection count
    reader_statement_timeout: str = "5min"
    reader_idle_in_transaction_timeout: str = "1min"
    reader_lock_timeout: str = "10s"
    reader_connection_limit: int = 20
    #: seconds publish waits for readers' locks before it terminates the reader sessions holding them
    publish_reader_grace: float = 20.0

    @property
    def external_warehouse(self) -> bool:
        """True when ``LNOB_WAREHOUSE_URL`` names a PostgreSQL we must not start or stop."""
        return bool(self.warehouse_url)

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"

    @property
    def gx_project_dir(self) -> Path:
        return self.project_dir / "expectations"

    @property
    def registry_path(self) -> Path:
        return Path(
            os.environ.get(
                "LNOB_REGISTRY", self.project_dir / "include" / "lnob" / "registry" / "registry.yml"
            )
        )


def settings() -> Settings:
    """Read the settings from the environment now (not cached: tests change the environment)."""
    project = _project_dir()
    home = Path(os.environ.get("LNOB_HOME", project / ".lnob")).resolve()
    data = project / "data"
    return Settings(
        project_dir=project,
        home=home,
        landing_dir=Path(os.environ.get("LNOB_LANDING_DIR", data / "landing")).resolve(),
        quarantine_dir=Path(os.environ.get("LNOB_QUARANTINE_DIR", data / "quarantine")).resolve(),
        exports_dir=Path(os.environ.get("LNOB_EXPORTS_DIR", data / "exports")).resolve(),
        reports_dir=Path(os.environ.get("LNOB_REPORTS_DIR", data / "reports")).resolve(),
        warehouse_url=os.environ.get("LNOB_WAREHOUSE_URL") or None,
        embedded_port=int(os.environ.get("LNOB_WAREHOUSE_PORT", DEFAULT_EMBEDDED_PORT)),
        pseudonym_key=os.environ.get("LNOB_PSEUDONYM_KEY") or None,
        min_cell=int(os.environ.get("LNOB_MIN_CELL", "10")),
        row_count_band=float(os.environ.get("LNOB_ROW_COUNT_BAND", "0.5")),
        reader_statement_timeout=_duration("LNOB_READER_STATEMENT_TIMEOUT", "5min"),
        reader_idle_in_transaction_timeout=_duration("LNOB_READER_IDLE_IN_TRANSACTION_TIMEOUT", "1min"),
        reader_lock_timeout=_duration("LNOB_READER_LOCK_TIMEOUT", "10s"),
        reader_connection_limit=_integer("LNOB_READER_CONNECTION_LIMIT", 20, minimum=1),
        publish_reader_grace=_seconds("LNOB_PUBLISH_READER_GRACE", 20.0),
    )


_DURATION = re.compile(r"\d+\s*(ms|s|min|h|d)?")


def _duration(variable: str, default: str) -> str:
    """A PostgreSQL duration (``300``, ``'5min'``, ``'30s'``, ``'250ms'``) from the environment; ``0``
    (no limit) is refused: these limits exist so a reader cannot block the night."""
    value = os.environ.get(variable, default).strip()
    if not _DURATION.fullmatch(value) or int(re.match(r"\d+", value).group()) == 0:
        raise ConfigurationError(f"{variable}={value!r}: expected a positive PostgreSQL duration such as "
                                 f"'{default}' (a number with ms, s, min, h or d)")
    return value


def _integer(variable: str, default: int, minimum: int) -> int:
    value = os.environ.get(variable, str(default)).strip()
    if not value.isdigit() or int(value) < minimum:
        raise ConfigurationError(f"{variable}={value!r}: expected an integer of at least {minimum}")
    return int(value)


def _seconds(variable: str, default: float) -> float:
    value = os.environ.get(variable, str(default)).strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigurationError(f"{variable}={value!r}: expected a number of seconds, 0 or more")
    return seconds
