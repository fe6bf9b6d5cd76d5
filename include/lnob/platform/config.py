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

import lnob
from lnob.platform.errors import NotRetryable

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
    # include/lnob/ -> repository root (the package is installed editable); from the package, not this
    # module, so the answer does not depend on where in the package the module sits.
    return Path(lnob.__file__).resolve().parents[2]


class ConfigurationError(NotRetryable, RuntimeError):
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
    #: The window a date or period of a delivery must fall in: from ``LNOB_PERIOD_MIN_YEAR`` to
    #: ``LNOB_PERIOD_MAX_YEAR`` (by default the delivery's own year + 1).
    period_min_year: int = 1950
    period_max_year: int | None = None
    #: The largest magnitude a number of a delivery may have (``LNOB_NUMERIC_MAX_ABS``).
    numeric_max_abs: float = 1e15
    #: Bounds on an XLSX delivery, checked on its zip members before openpyxl reads it.
    xlsx_max_cells: int = 50_000_000
    xlsx_max_uncompressed: int = 2_000_000_000
    xlsx_max_ratio: float = 100.0
    xlsx_max_shared_strings: int = 1_000_000
    xlsx_max_shared_strings_bytes: int = 64_000_000
    #: The largest quarantine reason file (and ledger reason) in bytes.
    reason_max_bytes: int = 64 * 1024
    #: limits set on the ``lnob_bi_reader`` login (``ALTER ROLE``), so a BI session cannot hold a
    #: night hostage: PostgreSQL durations (``'5min'``, ``'30s'``) and a connection count
    reader_statement_timeout: str = "5min"
    reader_idle_in_transaction_timeout: str = "1min"
    reader_lock_timeout: str = "10s"
    reader_connection_limit: int = 20
    #: seconds publish waits for readers' locks before it terminates the reader sessions holding them
    publish_reader_grace: float = 20.0
    #: the SDMX-ML export's layout (``LNOB_SDMX_LAYOUT``): ``series`` (Series elements,
    #: TIME_PERIOD at the observation) or ``flat`` (dimensionAtObservation AllDimensions)
    sdmx_layout: str = "series"
    #: True when ``LNOB_WAREHOUSE_PORT`` is set: the embedded warehouse then moves to that port
    #: (restarted on it if it runs elsewhere); unset, it keeps the port it last ran on, or takes a
    #: free one when that is taken by another program (lnob.platform.warehouse.start)
    embedded_port_explicit: bool = False

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
        """The dbt project (``LNOB_DBT_PROJECT_DIR``, default the committed ``dbt_project/``); the
        registry's files are written into it before each dbt run (lnob.registry.dbt_files)."""
        return Path(os.environ.get("LNOB_DBT_PROJECT_DIR") or self.project_dir / "dbt_project").resolve()

    @property
    def gx_project_dir(self) -> Path:
        """The Great Expectations file context (``LNOB_GX_PROJECT_DIR``, default the committed
        ``expectations/``); the tests point it at a copy so no test rewrites the committed suites."""
        return Path(os.environ.get("LNOB_GX_PROJECT_DIR") or self.project_dir / "expectations").resolve()

    @property
    def registry_path(self) -> Path:
        return Path(
            os.environ.get(
                "LNOB_REGISTRY", self.project_dir / "include" / "lnob" / "registry" / "registry.yml"
            )
        )


def settings() -> Settings:
    """Read the settings from the environment now (not cached: tests change the environment).

    Also makes every file this process creates owner-only (:func:`owner_only_umask`): whatever
    reads the settings writes personal data (landing, quarantine, reports, exports, Airflow)."""
    owner_only_umask()
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
        embedded_port=_integer("LNOB_WAREHOUSE_PORT", DEFAULT_EMBEDDED_PORT, minimum=1, maximum=65535),
        embedded_port_explicit=bool(os.environ.get("LNOB_WAREHOUSE_PORT", "").strip()),
        pseudonym_key=os.environ.get("LNOB_PSEUDONYM_KEY") or None,
        min_cell=int(os.environ.get("LNOB_MIN_CELL", "10")),
        row_count_band=float(os.environ.get("LNOB_ROW_COUNT_BAND", "0.5")),
        period_min_year=int(os.environ.get("LNOB_PERIOD_MIN_YEAR", "1950")),
        period_max_year=int(os.environ["LNOB_PERIOD_MAX_YEAR"])
        if os.environ.get("LNOB_PERIOD_MAX_YEAR")
        else None,
        numeric_max_abs=float(os.environ.get("LNOB_NUMERIC_MAX_ABS", "1e15")),
        xlsx_max_cells=int(os.environ.get("LNOB_XLSX_MAX_CELLS", "50000000")),
        xlsx_max_uncompressed=int(os.environ.get("LNOB_XLSX_MAX_UNCOMPRESSED", "2000000000")),
        xlsx_max_ratio=float(os.environ.get("LNOB_XLSX_MAX_RATIO", "100")),
        xlsx_max_shared_strings=int(os.environ.get("LNOB_XLSX_MAX_SHARED_STRINGS", "1000000")),
        xlsx_max_shared_strings_bytes=int(os.environ.get("LNOB_XLSX_MAX_SHARED_STRINGS_BYTES", "64000000")),
        reason_max_bytes=int(os.environ.get("LNOB_REASON_MAX_BYTES", str(64 * 1024))),
        reader_statement_timeout=_duration("LNOB_READER_STATEMENT_TIMEOUT", "5min"),
        reader_idle_in_transaction_timeout=_duration("LNOB_READER_IDLE_IN_TRANSACTION_TIMEOUT", "1min"),
        reader_lock_timeout=_duration("LNOB_READER_LOCK_TIMEOUT", "10s"),
        reader_connection_limit=_integer("LNOB_READER_CONNECTION_LIMIT", 20, minimum=1),
        publish_reader_grace=_seconds("LNOB_PUBLISH_READER_GRACE", 20.0),
        sdmx_layout=_choice("LNOB_SDMX_LAYOUT", "series", ("series", "flat")),
    )


#: Files this project writes hold personal data: owner read/write only (dirs 0700, files 0600).
OWNER_ONLY_UMASK = 0o077


def owner_only_umask() -> None:
    """Set the process umask to 077 (idempotent): every file and folder created from now on by
    this process and its children (Airflow, dbt, GX) is owner-only."""
    os.umask(OWNER_ONLY_UMASK)


def _home_mode(cfg: Settings) -> int:
    """0700, except when the embedded warehouse's data folder inside it belongs to another system
    user (as root, PostgreSQL runs as ``pgserver``): then others may pass through (0711) but not
    list it, and everything below that holds personal data is 0700/0600 itself."""
    try:
        owner = cfg.pgdata.stat().st_uid
    except OSError:
        return 0o700
    return 0o711 if owner != os.getuid() else 0o700


def make_private(cfg: Settings) -> list[Path]:
    """Create the folders that hold personal data owner-only and take group and other access
    away from what already exists in them (0700 folders, 0600 files; symlinks are not followed).
    Returns the folders made private. The warehouse's data folder is PostgreSQL's own (0700)."""
    import stat

    owner_only_umask()
    done = []
    for top in (
        cfg.home,
        cfg.airflow_home,
        cfg.landing_dir,
        cfg.quarantine_dir,
        cfg.reports_dir,
        cfg.exports_dir,
    ):
        top.mkdir(parents=True, exist_ok=True)
        os.chmod(top, 0o700 if top != cfg.home else _home_mode(cfg))
        done.append(top)
        if top == cfg.home:
            continue  # the folder itself is enough: nothing below it can be reached by others
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
                    continue
                if stat.S_IMODE(st.st_mode) & 0o077:
                    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
    return done


_DURATION = re.compile(r"(\d+)\s*(ms|s|min|h|d)?")


def _duration(variable: str, default: str) -> str:
    """A PostgreSQL duration (``300``, ``'5min'``, ``'30s'``, ``'250ms'``) from the environment; ``0``
    (no limit) is refused: these limits exist so a reader cannot block the night."""
    value = os.environ.get(variable, default).strip()
    duration = _DURATION.fullmatch(value)
    if duration is None or int(duration.group(1)) == 0:
        raise ConfigurationError(
            f"{variable}={value!r}: expected a positive PostgreSQL duration such as "
            f"'{default}' (a number with ms, s, min, h or d)"
        )
    return value


def _integer(variable: str, default: int, minimum: int, maximum: int | None = None) -> int:
    value = os.environ.get(variable, "").strip() or str(default)
    if not value.isdigit() or int(value) < minimum or (maximum is not None and int(value) > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"of at least {minimum}"
        raise ConfigurationError(f"{variable}={value!r}: expected an integer {bound}")
    return int(value)


def _choice(variable: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(variable, default).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{variable}={value!r}: expected one of {', '.join(choices)}")
    return value


def _seconds(variable: str, default: float) -> float:
    value = os.environ.get(variable, str(default)).strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigurationError(f"{variable}={value!r}: expected a number of seconds, 0 or more")
    return seconds
