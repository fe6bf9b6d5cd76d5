"""Run dbt against the configured warehouse.

dbt runs inside the task's process through its programmatic API (``dbtRunner``), with the
connection fields taken from the one warehouse URL in an environment set for that invocation
only. Marts are built into the audit schema; the mart data tests run in the ``gate_marts`` stage with the Great Expectations suite, so a failed
check on the audit schema stops publication and leaves ``marts`` untouched.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from lnob.platform.config import AUDIT_SCHEMA, Settings, settings
from lnob.platform.warehouse import ConnInfo
from lnob.transform import pseudonym

log = logging.getLogger(__name__)


class DbtError(RuntimeError):
    """A dbt command failed; the message carries the failing nodes, ``failures`` each node's
    status, message and a sample of failing values."""

    def __init__(self, message: str, failures: list[dict] | None = None):
        super().__init__(message)
        self.failures = failures or []


@dataclass
class DbtResult:
    command: list[str]
    seconds: float
    results: list[dict] = field(default_factory=list)
    error: str | None = None

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
        PGOPTIONS=pseudonym.pgoptions(
            cfg.pseudonym_key,
            " ".join(o for o in (os.environ.get("PGOPTIONS", ""), _url_options(warehouse_url)) if o),
        ),
    )
    return env


def _url_options(warehouse_url: str) -> str:
    """libpq ``options`` of the URL (e.g. ``-c role=lnob_transformer``): dbt's profile has no such
    field, so they travel in PGOPTIONS."""
    from urllib.parse import parse_qs, urlsplit

    return " ".join(parse_qs(urlsplit(warehouse_url).query).get("options", []))


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``os.environ`` as ``env`` for the duration of one in-process dbt invocation, then exactly
    as it was: the pseudonym pads in PGOPTIONS must not outlive the dbt session that needs them."""
    changed = {k: os.environ.get(k) for k, v in env.items() if os.environ.get(k) != v}
    os.environ.update(
        {k: env[k] for k in changed}
    )  # set key by key: other threads never see an empty environment
    try:
        yield
    finally:
        for key, before in changed.items():
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before


#: Invocations run in the task's own process (dbt's programmatic API): importing dbt and starting
#: its interpreter cost more than most nights' models (about 7 s of every invocation on 2 cores).
#: One at a time per process: dbt's runner keeps global state.
_DBT_LOCK = threading.Lock()


#: The project parsed by this process, with what it was parsed from (:func:`_parse_key`): a night
#: runs dbt three to five times in one process (staging, downstream, the mart tests, the docs),
#: and each invocation parsed the project again (about a tenth of dbt's CPU on a small night).
_PARSED: dict[str, object] = {}
#: Folders of the dbt project that are not its source.
_NOT_SOURCE = frozenset({"target", "logs", "dbt_packages"})


def _parse_key(project_dir: str, env: dict[str, str]) -> str:
    """What a parse of the project depends on: every source file's path, size and modification
    time (the registry rewrites its seeds and staging models only when they change) and the
    settings dbt reads at parse time (``env_var()``: the LNOB_ and DBT_ variables)."""
    import hashlib

    digest = hashlib.sha256()
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = sorted(d for d in dirs if not (root == project_dir and d in _NOT_SOURCE))
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            digest.update(f"{os.path.join(root, name)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for key in sorted(k for k in env if k.startswith(("LNOB_", "DBT_"))):
        digest.update(f"{key}={env[key]}\n".encode())
    return digest.hexdigest()


def _invoke(
    argv: list[str], env: dict[str, str], project_dir: str | None = None, options: list[str] | None = None
) -> tuple[bool, str]:
    """Run dbt with ``argv`` in this process; returns (success, the tail of what it printed).
    With ``project_dir``, the project is parsed once per process and state of its files
    (``dbt parse`` with ``options``, which also writes the manifest) and every invocation reuses
    that manifest. A parse that fails leaves the invocation to parse, and to say why."""
    from collections import deque

    from dbt.cli.main import dbtRunner

    lines: deque[str] = deque(maxlen=200)

    def keep(event) -> None:  # the messages dbt prints, kept for the error message
        try:
            if event.info.level in ("info", "warn", "error"):
                lines.append(event.info.msg)
        except Exception:  # noqa: BLE001 - a message we cannot read is not worth failing for
            pass

    with _DBT_LOCK, _environment(env):
        manifest = None
        if project_dir is not None:
            key = _parse_key(project_dir, env)
            if _PARSED.get("key") != key:
                _PARSED.clear()
                started = time.monotonic()
                parsed = dbtRunner(callbacks=[keep]).invoke(["parse", *(options or [])])
                if parsed.success and parsed.result is not None:
                    _PARSED.update(key=key, manifest=parsed.result)
                    log.info("dbt: project parsed in %.1f s (%s)", time.monotonic() - started, key[:12])
            manifest = _PARSED.get("manifest")
        outcome = dbtRunner(manifest=manifest, callbacks=[keep, _log_node]).invoke(argv)  # type: ignore[arg-type]
    tail = "\n".join(str(line) for line in lines)
    if outcome.exception is not None:
        tail += f"\n{type(outcome.exception).__name__}: {outcome.exception}"
    return bool(outcome.success), tail


_NODE_RESULTS = ("LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult")
_ROWS = re.compile(r"^(?:SELECT|INSERT \d+|UPDATE|DELETE|MERGE|COPY)\s+(\d+)")


def _log_node(event) -> None:
    """One line per finished dbt node in the task log: kind, name, status, rows, seconds. dbt's
    own printing is at warning level (:func:`run_dbt`), so this is the transform's progress; tests
    that pass are at DEBUG (hundreds a night), failing ones at WARNING."""
    try:
        kind = event.info.name
        if kind not in _NODE_RESULTS:
            return
        data = event.data
        node = data.node_info
        status = str(data.status or node.node_status)
        seconds = float(data.execution_time or 0)
        if kind == "LogTestResult":
            log.log(
                logging.DEBUG if status == "pass" else logging.WARNING,
                "dbt test %s: %s (%s failing rows, %.1fs)",
                node.node_name,
                status,
                data.num_failures,
                seconds,
            )
            return
        found = _ROWS.match(getattr(data, "result_message", "") or status)
        rows = f"{int(found.group(1)):,d} rows" if found else status
        failed = status.lower() in ("error", "fail", "skipped") or status.startswith("PARTIAL")
        log.log(
            logging.ERROR if failed else logging.INFO,
            "dbt %s %s (%s): %s, %.1fs",
            node.resource_type,
            node.node_name,
            node.materialized or "-",
            "ERROR" if status == "error" else rows,
            seconds,
        )
    except Exception:  # noqa: BLE001 - progress lines must never fail a dbt run
        pass


#: dbt's own console output (one line per model, test and summary, hundreds a night) in the task
#: log only at this level or above; its file log in ``$LNOB_HOME/dbt/logs`` keeps everything.
DBT_CONSOLE_LEVEL = "LNOB_DBT_LOG_LEVEL"
#: dbt's file log level (``debug`` when unset: every statement it ran, with its timing). Writing it
#: is about a tenth of dbt's own CPU on a small night; the test suite, which runs dozens of nights
#: and reads the run results instead, keeps ``info``.
DBT_FILE_LEVEL = "LNOB_DBT_FILE_LOG_LEVEL"
#: dbt's threads (the profile's 2 when unset).
DBT_THREADS = "LNOB_DBT_THREADS"


def run_dbt(
    args: list[str], warehouse_url: str, cfg: Settings | None = None, check: bool = True
) -> DbtResult:
    """Run one dbt command; raise :class:`DbtError` naming each failed node, its message and a
    sample of the rows that failed it (``check=False``: return the failures instead)."""
    cfg = cfg or settings()
    target = cfg.home / "dbt" / "target"
    logs = cfg.home / "dbt" / "logs"
    options = [
        "--project-dir",
        str(cfg.dbt_project_dir),
        "--profiles-dir",
        str(cfg.dbt_project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(logs),
        "--log-level",
        os.environ.get(DBT_CONSOLE_LEVEL, "warn"),
        "--log-level-file",
        os.environ.get(DBT_FILE_LEVEL, "debug"),
        # dbt's nodes on small tables are mostly waits on the warehouse: more threads than cores help
        *(["--threads", os.environ[DBT_THREADS]] if os.environ.get(DBT_THREADS) else []),
    ]
    argv = [*args, *options]
    started = time.monotonic()
    (target / "run_results.json").unlink(missing_ok=True)  # never read an earlier command's results
    success, printed = _invoke(argv, dbt_env(warehouse_url, cfg), str(cfg.dbt_project_dir), options)
    result = DbtResult(argv, time.monotonic() - started)
    run_results = target / "run_results.json"
    if run_results.exists():
        doc = json.loads(run_results.read_text())
        result.results = [
            {
                "node": r["unique_id"],
                "status": r["status"],
                "message": r.get("message"),
                "failures": r.get("failures"),
                "compiled_code": r.get("compiled_code"),
                "seconds": float(r.get("execution_time") or 0),
            }
            for r in doc.get("results", [])
        ]
    for r in result.failures:
        r["sample"], r["attributed_to"], r["failing_columns"] = failing_sample(r, warehouse_url, cfg)
    for r in result.results:
        r.pop("compiled_code", None)
    if not success:
        result.error = (
            f"dbt {' '.join(args)} failed:\n{describe_failures(result.failures) or printed[-4000:]}"
        )
        if check:
            raise DbtError(result.error, result.failures)
    return result


#: Columns never shown in a failure sample (free text and identifiers stay in the warehouse).
_PRIVATE_COLUMN = re.compile(r"text|testimon|quote|name|phone|gps|email|address|_pid$|_id$|^id$", re.I)
_SAMPLE_ROWS = 5


#: Columns of a failing row that say whose data it is (lnob.quality.isolation holds that partner back).
ATTRIBUTION_COLUMNS = ("partner_id", "partners", "source_id")


def failing_sample(
    result: dict, warehouse_url: str, cfg: Settings | None = None
) -> tuple[list[str], dict, list[str]]:
    """A few rows that fail a dbt test, re-read with the test's own compiled query, so that the
    summary, the report and the run log say which values failed, not only how many. Columns that
    could hold personal data are left out and every value is bounded. Also whose rows fail:
    ``{"partner_id": [...], "source_id": [...]}`` from every failing row (not only the sample), or
    ``{}`` when the test's rows do not say; and the columns they fail in, for a test whose rows
    name them (``column_name``: the merged ``not_null_columns``), from every failing row."""
    import psycopg2

    from lnob import registry as registry_module

    code = result.get("compiled_code")
    if not code or not result["node"].startswith("test."):
        return [], {}, []
    try:
        reg = registry_module.load()
        private = {
            f.name
            for s in reg.sources.values()
            for f in s.fields
            if f.identifier or f.pseudonymise or f.free_text
        }
    except Exception:  # noqa: BLE001 - an invalid registry still gets its failure named elsewhere
        private = set()
    cfg = cfg or settings()
    options = " ".join(
        o
        for o in (
            _url_options(warehouse_url),
            pseudonym.pgoptions(cfg.pseudonym_key) if cfg.pseudonym_key else "",
        )
        if o
    )
    try:
        conn = psycopg2.connect(warehouse_url, options=options, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute("set statement_timeout = '30s'")
                query = code.rstrip().rstrip(";")
                cur.execute(f"select * from ({query}) as failing limit {_SAMPLE_ROWS}")
                names = [c.name for c in cur.description or ()]
                rows = cur.fetchall()
                columns: list[str] = []
                if "column_name" in names:
                    cur.execute(f"select distinct column_name::text from ({query}) as failing order by 1")
                    columns = [c for (c,) in cur.fetchall() if c]
                attributed: dict[str, list[str]] = {}
                for column in ATTRIBUTION_COLUMNS:
                    if column in names:
                        cur.execute(f'select distinct "{column}"::text from ({query}) as failing')
                        values = {v for (cell,) in cur.fetchall() for v in (cell or "").split(";")}
                        attributed["source_id" if column == "source_id" else "partner_id"] = sorted(
                            values | set(attributed.get("partner_id", []))
                            if column != "source_id"
                            else values
                        )
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - a sample is a courtesy; the failure is named anyway
        return [f"(no sample: {type(exc).__name__})"], {}, []
    keep = [
        i
        for i, n in enumerate(names)
        if n not in private
        and not _PRIVATE_COLUMN.search(n)
        or n in ("source_id", "partner_id", "column_name")
    ]
    out = []
    for row in rows:
        out.append(", ".join(f"{names[i]}={_bound(row[i])}" for i in keep) or "(a failing row)")
    return out, {k: v for k, v in attributed.items() if v and "" not in v}, columns


def _bound(value, limit: int = 60) -> str:
    text = "null" if value is None else str(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failures(failures: list[dict]) -> str:
    lines = []
    for r in failures:
        lines.append(f"  {r['node']}: {r['status']}: {r['message']}")
        lines += [f"      e.g. {s}" for s in r.get("sample", [])]
    return "\n".join(lines)


# The mart data tests (generic tests on the marts, singular tests tagged `marts`) are the dbt half
# of the mart gate: `build_audit` builds everything else with its data tests in one dbt invocation,
# `test_audit` runs them in the gate stage.
MART_TESTS = "tag:marts,resource_type:test"
#: dbt unit tests pin the SQL logic on fixed fixtures: the same inputs every night, so the night does
#: not run them (as dbt recommends); the test suite and `lnob dbt test --select test_type:unit` do
#: (:func:`unit_tests`).
UNIT_TESTS = "resource_type:unit_test"


def unit_tests(warehouse_url: str, cfg: Settings | None = None, check: bool = True) -> DbtResult:
    """Every dbt unit test (suppression, perturbation, recodes, scrubbing) against the warehouse's
    current relations (dbt reads the column types of each tested model's inputs there)."""
    return run_dbt(["test", "--select", "test_type:unit"], warehouse_url, cfg, check=check)


def seeds_checksum(cfg: Settings) -> str:
    """A digest of every seed file and the project file that types them."""
    import hashlib

    digest = hashlib.sha256()
    files = sorted((cfg.dbt_project_dir / "seeds").rglob("*.csv")) + [cfg.dbt_project_dir / "dbt_project.yml"]
    for path in files:
        digest.update(str(path.relative_to(cfg.dbt_project_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _seeds_loaded(warehouse_url: str, checksum: str) -> bool:
    """Whether the warehouse holds exactly these seeds (recorded after the last successful build)."""
    from lnob.platform.warehouse import connect

    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select checksum from lnob_meta.seed_state")
        row = cur.fetchone()
        cur.execute("select count(*) from information_schema.tables where table_schema = 'reference'")
        tables = cur.fetchone()[0]
    return bool(row) and row[0] == checksum and tables > 0


def _record_seeds(warehouse_url: str, checksum: str) -> None:
    from lnob.platform.warehouse import connect

    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("delete from lnob_meta.seed_state")
        cur.execute("insert into lnob_meta.seed_state (checksum) values (%s)", (checksum,))


# --------------------------------------------------------------------------------------------------
# What a night builds: the staging of the sources whose deliveries changed, and what reads them
# --------------------------------------------------------------------------------------------------

#: Set to 0 to build every model every night (the plan is then always "everything").
SELECT_CHANGED = "LNOB_DBT_SELECT_CHANGED"
#: The project files whose change makes a night build everything.
_PROJECT_GLOBS = ("models/**/*", "macros/**/*", "tests/**/*", "dbt_project.yml")
#: Models that read the pipeline's own bookkeeping, not a delivery: built every night.
EVERY_NIGHT = ("tag:marts", "source:lnob_meta.testimony_review+")


@dataclass
class BuildPlan:
    """What tonight's dbt stage builds. ``changed`` is None when it builds everything (the first
    night, a changed project, seed, setting or pseudonymisation key, a missing relation); otherwise
    the sources whose set of loaded deliveries changed since the last successful stage: their
    staging, what reads it, and every night's models (:data:`EVERY_NIGHT`)."""

    fingerprints: dict[str, str]
    changed: list[str] | None
    reason: str

    def staging(self) -> list[str] | None:
        """``--select`` of the staging models to build, None for all of them."""
        if self.changed is None:
            return None
        return [f"source:raw.{s}+,tag:staging" for s in self.changed]

    def downstream(self) -> list[str] | None:
        """``--select`` of the intermediate models and marts, None for all of them."""
        if self.changed is None:
            return None
        return [*(f"source:raw.{s}+,tag:intermediate" for s in self.changed), *EVERY_NIGHT]

    def everything(self) -> list[str] | None:
        """``--select`` of one build of the whole stage, None for every node."""
        if self.changed is None:
            return None
        return [*(f"source:raw.{s}+" for s in self.changed), *EVERY_NIGHT]


def _project_digest(cfg: Settings) -> str:
    import hashlib

    digest = hashlib.sha256()
    root = cfg.dbt_project_dir
    for pattern in _PROJECT_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_fingerprints(warehouse_url: str, cfg: Settings | None = None) -> dict[str, str]:
    """The state a night's build starts from: 'global' (dbt and its project files, the seeds, the
    settings the models read, the pseudonymisation key as a keyed digest, the relations that exist
    in staging, intermediate and reference) and 'source:<id>' (its loaded deliveries)."""
    import hashlib
    import hmac

    from dbt.version import __version__ as dbt_version

    from lnob.platform.warehouse import connect

    cfg = cfg or settings()
    parts = [
        dbt_version,
        _project_digest(cfg),
        seeds_checksum(cfg),
        str(cfg.min_cell),
        os.environ.get("LNOB_SDC_EXTREME_MIN_N", ""),
        os.environ.get("LNOB_AGGREGATE_WORK_MEM", ""),
        AUDIT_SCHEMA,
        hmac.new((cfg.pseudonym_key or "").encode(), b"lnob build state", "sha256").hexdigest(),
    ]
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            """select coalesce(string_agg(n.nspname || '.' || c.relname, ',' order by n.nspname, c.relname), '')
                 from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
                where n.nspname in ('staging', 'intermediate', 'reference') and c.relkind in ('r', 'v', 'm')"""
        )
        parts.append(cur.fetchone()[0])
        cur.execute(
            """select source_id, md5(string_agg(delivery_id::text, ',' order by delivery_id))
                 from lnob_meta.delivery_ledger where status = 'loaded' group by source_id"""
        )
        out = {f"source:{source_id}": fp for source_id, fp in cur.fetchall()}
    out["global"] = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return out


def recorded_build(warehouse_url: str) -> dict[str, str]:
    """What the last successful stage recorded (:func:`record_build`), empty if nothing."""
    from lnob.platform.warehouse import connect

    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select scope, fingerprint from lnob_meta.build_state")
        return dict(cur.fetchall())


def build_plan(
    warehouse_url: str,
    cfg: Settings | None = None,
    before: dict[str, str] | None = None,
    earlier: BuildPlan | None = None,
) -> BuildPlan:
    """What tonight's stage must build, against what the last successful one recorded (``before``,
    read from the warehouse when not given). ``earlier``: a round of tonight's stage that already
    built (staging rebuilt after a hold-back): what it built differs from ``before`` whatever the
    ledger says now, so it is built again."""
    from lnob.registry import load as load_registry

    cfg = cfg or settings()
    now = build_fingerprints(warehouse_url, cfg)
    if os.environ.get(SELECT_CHANGED, "1") == "0":
        return BuildPlan(now, None, f"{SELECT_CHANGED}=0")
    before = recorded_build(warehouse_url) if before is None else before
    if before.get("global") != now["global"]:
        reason = "first build" if not before else "the project, seeds, settings, key or relations changed"
        return BuildPlan(now, None, reason)
    sources = sorted(load_registry().sources)
    if earlier is not None and earlier.changed is None:
        return BuildPlan(now, None, "an earlier round tonight built everything")
    again = set(earlier.changed or ()) if earlier is not None else set()
    changed = [s for s in sources if before.get(f"source:{s}") != now.get(f"source:{s}") or s in again]
    return BuildPlan(now, changed, f"{len(changed)} of {len(sources)} sources with changed deliveries")


def record_build(warehouse_url: str, plan: BuildPlan, cfg: Settings | None = None) -> None:
    """After a successful stage: what it was built from. The sources' fingerprints are those
    taken before it ran (a delivery loaded while it ran counts as changed next night); the global
    one is taken now, with the relations the build created."""
    from lnob.platform.warehouse import connect

    state = {**plan.fingerprints, "global": build_fingerprints(warehouse_url, cfg)["global"]}
    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("delete from lnob_meta.build_state")
        cur.executemany(
            "insert into lnob_meta.build_state (scope, fingerprint) values (%s, %s)", sorted(state.items())
        )


def forget_build(warehouse_url: str) -> None:
    """The next stage builds everything (a failed or partial build left the state unknown)."""
    from lnob.platform.warehouse import connect

    with connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("delete from lnob_meta.build_state")


def build_audit(warehouse_url: str, cfg: Settings | None = None) -> list[DbtResult]:
    """Seeds, staging, intermediate and their data tests; the marts into the audit
    schema. One dbt invocation: the mart data tests wait for the gate. Seeds are reloaded only when
    a seed file changed (the registry's are rewritten each night only if the registry changed)."""
    cfg = cfg or settings()
    checksum = seeds_checksum(cfg)
    exclude = [MART_TESTS, UNIT_TESTS]
    seeds = _seeds_loaded(warehouse_url, checksum)
    if seeds:
        exclude.append("resource_type:seed")
    plan = build_plan(warehouse_url, cfg)
    select = plan.everything()
    if select is not None and not seeds:
        select.append("resource_type:seed")
    log.info("transform: building %s (%s)", "everything" if select is None else " ".join(select), plan.reason)
    forget_build(warehouse_url)
    result = run_dbt(
        ["build", *(["--select", *select] if select else []), "--exclude", *exclude], warehouse_url, cfg
    )
    _record_seeds(warehouse_url, checksum)
    record_build(warehouse_url, plan, cfg)
    return [result]


#: Staging (views of raw, with their tests) is built first, on its own: what a source broke there is
#: held back (lnob.quality.isolation) before anything downstream reads it.
STAGING = "tag:staging"


def build_staging(
    warehouse_url: str, cfg: Settings | None = None, plan: BuildPlan | None = None
) -> DbtResult:
    """Seeds (when a seed file changed) and the staging models of ``plan`` (every one without a
    plan) with their data tests. Failures are returned, not raised: the pipeline decides which
    source they hold back."""
    cfg = cfg or settings()
    checksum = seeds_checksum(cfg)
    staging = (plan.staging() if plan else None) or (
        [STAGING] if plan is None or plan.changed is None else []
    )
    select = list(staging) if _seeds_loaded(warehouse_url, checksum) else ["resource_type:seed", *staging]
    if not select:  # no source changed and the seeds are loaded: nothing to stage
        return DbtResult(["build"], 0.0)
    result = run_dbt(
        ["build", "--select", *select, "--exclude", MART_TESTS, UNIT_TESTS], warehouse_url, cfg, check=False
    )
    if not any(r["status"] == "error" and r["node"].startswith("seed.") for r in result.results):
        _record_seeds(warehouse_url, checksum)
    return result


def build_downstream(
    warehouse_url: str, cfg: Settings | None = None, plan: BuildPlan | None = None
) -> DbtResult:
    """Intermediate models (of ``plan``; every one without a plan) and the marts into the audit
    schema, with their tests except the mart data tests (those are the gate's)."""
    select = (plan.downstream() if plan else None) or ["tag:intermediate", "tag:marts"]
    return run_dbt(
        ["build", "--select", *select, "--exclude", MART_TESTS, UNIT_TESTS],
        warehouse_url,
        cfg,
    )


def test_audit(warehouse_url: str, cfg: Settings | None = None, check: bool = True) -> DbtResult:
    """The mart data tests (keys, codelists, contracts, suppression) on the audit schema."""
    return run_dbt(["test", "--select", MART_TESTS], warehouse_url, cfg, check=check)
