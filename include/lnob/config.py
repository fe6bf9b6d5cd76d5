"""Configuration in one place, read from the environment with defaults that run locally.

Every part of the project (loader, dbt, Great Expectations, Airflow) reads its settings through
:func:`settings`, so one environment variable changes them all: ``LNOB_WAREHOUSE_URL`` points the
whole pipeline at an external PostgreSQL and then nothing embedded is started.
"""

from __future__ import annotations

import os
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
    )
