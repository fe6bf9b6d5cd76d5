"""The nightly pipeline's stages as plain functions, one per Airflow task.

The DAG file only wires these together; each function is a transaction of its own: re-running it
for the same night gives the same result. Every stage records its outcome in ``lnob_meta.run_log``
so the run summary (and later the report) can say what the night did, even when it failed.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path

from lnob import registry
from lnob.ingest import connectors, load
from lnob.ingest.landing import safe_name
from lnob.platform import meta, roles, warehouse
from lnob.platform.config import AUDIT_SCHEMA, META_SCHEMA, PUBLISHED_SCHEMA, Settings, make_private, settings
from lnob.platform.errors import NotRetryable
from lnob.platform.log_levels import quiet_libraries
from lnob.publish import swap as publish
from lnob.quality import gates, isolation
from lnob.transform import runner as transform

log = logging.getLogger(__name__)
quiet_libraries()  # GX and dbt noise out of the task logs (lnob.platform.log_levels)


class GateFailed(NotRetryable, RuntimeError):
    """A quality gate failed: publication must not happen."""


def _log(url: str, run_id: str, stage: str, subject: str, outcome: str, detail: dict | None = None) -> None:
    _log_many(url, run_id, stage, [(subject, outcome, detail)])


def _log_many(url: str, run_id: str, stage: str, entries: list[tuple[str, str, dict | None]]) -> None:
    """Record the outcomes of several subjects of one stage in one connection and transaction (a
    source's hundreds of API pages are hundreds of deliveries)."""
    if not entries:
        return
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        meta.ensure(cur)
        for subject, outcome, detail in entries:
            meta.log_outcome(cur, run_id, stage, subject, outcome, detail)


def secure(url: str, cfg: Settings | None = None) -> None:
    """Create or repair the least-privilege roles and their grants (idempotent) when the configured
    user may; the night's steps then run as the narrowest role (see lnob.platform.roles)."""
    with warehouse.connect(url) as conn:
        if roles.can_manage(conn):
            for line in roles.ensure(conn, cfg):
                log.info("roles: %s", line)
    roles.forget(url)


def api_sources(get_endpoint) -> list[str]:
    """The API sources whose Airflow connection is configured (the others rely on file drops)."""
    reg = registry.load()
    return [
        s.id
        for s in reg.sources.values()
        if s.type in registry.API_TYPES and s.connection and get_endpoint(s.connection) is not None
    ]


def fetch_source(
    url: str,
    run_id: str,
    night: date,
    source_id: str,
    endpoint: connectors.Endpoint,
    cfg: Settings | None = None,
) -> dict:
    """Fetch one API source's new records into tonight's landing folder (incremental: after the
    newest submission already in raw). A failure fails this source's task only."""
    cfg = cfg or settings()
    reg = registry.load()
    src = reg.source(source_id)
    since = None
    incremental = {f.label: f.name for f in src.fields}.get(src.format.get("incremental", ""))
    if incremental:
        with warehouse.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select to_regclass(%s) is not null", (f'raw."{src.raw_table}"',))
            if cur.fetchone()[0]:
                cur.execute(f'select max("{incremental}") from raw."{src.raw_table}"')
                newest = cur.fetchone()[0]
                since = newest.isoformat() if newest else None
    folder = cfg.landing_dir / src.partner / night.isoformat()
    m49 = {iso3: c.m49 for iso3, c in reg.countries.items()}
    try:
        pages = connectors.fetch(src, endpoint, folder, since=since, m49=m49)
    except connectors.ConnectorError as exc:
        _log(url, run_id, "fetch", source_id, "failed", {"error": str(exc)})
        raise
    detail = {"pages": len(pages), "since": since, "folder": str(folder)}
    _log(url, run_id, "fetch", source_id, "ok", detail)
    return detail


def require_secrets(url: str, run_id: str, cfg: Settings) -> None:
    """The pseudonymisation key must be set before anything is loaded: without it the night would
    load every delivery and fail in transform. Fails at once (a ConfigurationError, not retried),
    and the run log keeps the cause for the summary and the report (a trigger from the UI on a
    deployment without the secret)."""
    from lnob.transform import pseudonym

    if not cfg.pseudonym_key:
        _log(url, run_id, "config", "LNOB_PSEUDONYM_KEY", "failed", {"error": pseudonym.MISSING})
        raise load.ConfigurationError(pseudonym.MISSING)


def extract(url: str, run_id: str, night: date, cfg: Settings | None = None) -> list[dict]:
    """Find tonight's new deliveries in the landing folder (any date up to ``night``); what the
    landing folder holds that is refused (links, devices, unsafe names, unknown partner folders)
    is logged and shown in the summary, never read."""
    cfg = cfg or settings()
    require_secrets(url, run_id, cfg)
    reg = registry.load()  # raises RegistryError naming file and key path: the night stops here
    make_private(cfg)  # landing, quarantine, reports, exports, Airflow home: owner-only
    secure(url, cfg)
    rejected: list = []
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn:
        fresh, known = load.new_deliveries(conn, reg, cfg.landing_dir, night, rejected)
    for r in rejected:
        log.warning("landing folder: refused %s: %s", r.path, r.reason)
    per_source: dict[str, int] = {}
    for d in fresh:
        per_source[d.source_id] = per_source.get(d.source_id, 0) + 1
    for source_id in reg.sources:
        _log(url, run_id, "extract", source_id, "ok", {"new_deliveries": per_source.get(source_id, 0)})
    _log(
        url,
        run_id,
        "extract",
        "*",
        "ok",
        {
            "new": len(fresh),
            "already_loaded": known,
            "landing_dir": str(cfg.landing_dir),
            "rejected": [r.as_dict() for r in rejected[:200]],
            "rejected_total": len(rejected),
        },
    )
    log.info("extract: %d new deliveries, %d already loaded", len(fresh), known)
    return [asdict(d) for d in fresh]


def load_raw(url: str, run_id: str, delivery: dict, cfg: Settings | None = None) -> dict:
    """Load one delivery; a contract break quarantines it (the task succeeds, the night goes on)."""
    reg = registry.load()
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, _log_connection(url) as log_conn:
        return _load_one(conn, log_conn, run_id, reg, delivery, cfg)


@contextmanager
def _log_connection(url: str):
    """The connection :func:`_log` opens, kept open for a source's many deliveries (each outcome
    is committed as soon as it is known, as :func:`_log` does)."""
    with warehouse.connect(url) as conn:
        with conn.cursor() as cur:
            meta.ensure(cur)
        conn.commit()
        yield conn


def _load_one(conn, log_conn, run_id: str, reg, delivery: dict, cfg: Settings | None) -> dict:
    """Load one delivery on an open connection (its own transaction), record and log its outcome."""
    d = load.Delivery(**delivery)
    result = load.load_delivery(conn, reg, d, run_id, cfg)
    detail = asdict(result)
    with log_conn.cursor() as cur:
        meta.log_outcome(
            cur, run_id, "load_raw", f"{d.source_id}:{d.delivery_date}:{d.file_name}", result.outcome, detail
        )
    log_conn.commit()
    if result.outcome == "quarantined":
        log.warning("QUARANTINED %s %s: %s", d.source_id, d.path, json.dumps(result.reason)[:2000])
    elif result.quarantined_submissions:  # named by platform id, errors masked: no personal value
        log.warning(
            "QUARANTINED %d submission(s) of %s %s alone, the page's others loaded: %s",
            len(result.quarantined_submissions),
            d.source_id,
            d.path,
            json.dumps(
                [
                    {"submission": q["submission"], "errors": q["reason"]["errors"][:3]}
                    for q in result.quarantined_submissions
                ]
            )[:2000],
        )
    else:
        log.info("%s %s: %s rows", result.outcome, d.path, result.rows_loaded)
    return detail


def extract_sources(url: str, run_id: str, night: date, cfg: Settings | None = None) -> list[dict]:
    """Tonight's work per source: its new deliveries (:func:`extract`), and its loaded deliveries
    that have not passed their raw gate yet (a night that stopped between load and gate). The
    nightly DAG maps one load and one raw gate per source, however many pages or files it has."""
    fresh = extract(url, run_id, night, cfg)
    batches: dict[str, dict] = {}
    for d in fresh:
        batches.setdefault(
            d["source_id"], {"source_id": d["source_id"], "partner_id": d["partner_id"], "deliveries": []}
        )["deliveries"].append(d)
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        cur.execute(f"""select distinct source_id, partner_id from {META_SCHEMA}.delivery_ledger
                        where status = 'loaded' and gated_at is null""")
        for source_id, partner_id in cur.fetchall():
            batches.setdefault(
                source_id, {"source_id": source_id, "partner_id": partner_id, "deliveries": []}
            )
    reg = registry.load()
    return [batches[s] for s in reg.sources if s in batches] + [
        b for s, b in batches.items() if s not in reg.sources
    ]


def label(batch: dict) -> str:
    """How a source's mapped task is named in the Airflow UI: source, partner and what it holds
    (the file when there is one; how many otherwise). Bounded: Airflow keeps 250 characters."""
    deliveries = batch.get("deliveries") or []
    n = len(deliveries)
    what = f"{n} new deliver{'y' if n == 1 else 'ies'}"
    if n == 1:
        d = deliveries[0]
        what += ": " + safe_name(d.get("file_name") or Path(d.get("path") or "").name, 80)
    return f"{batch['source_id']} ({batch['partner_id']}, {what})"[:250]


def load_source(url: str, run_id: str, batch: dict, cfg: Settings | None = None) -> dict:
    """Load one source's new deliveries, each in its own transaction and ledger row (a delivery
    that breaks the contract is quarantined alone)."""
    deliveries = batch["deliveries"]
    if not deliveries:
        return {**{k: v for k, v in batch.items() if k != "deliveries"}, "deliveries": []}
    # One registry and one connection for all of them: a night of API pages is hundreds of
    # deliveries, and reading the registry and logging in again per page cost more than the page.
    reg = registry.load()
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, _log_connection(url) as log_conn:
        loaded = [_load_one(conn, log_conn, run_id, reg, d, cfg) for d in deliveries]
    return {**{k: v for k, v in batch.items() if k != "deliveries"}, "deliveries": loaded}


def _pending(url: str, source_id: str) -> dict[int, dict]:
    """The source's loaded deliveries that have not passed their raw gate yet."""
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute(
            f"""select delivery_id, delivery_date, file_name, rows_loaded
                        from {META_SCHEMA}.delivery_ledger
                        where source_id = %s and status = 'loaded' and gated_at is null
                        order by delivery_id""",
            (source_id,),
        )
        return {
            r[0]: {
                "delivery_id": r[0],
                "delivery_date": r[1].isoformat(),
                "file_name": r[2],
                "rows_loaded": r[3],
            }
            for r in cur.fetchall()
        }


def _passed(url: str, delivery_ids: list[int]) -> None:
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        cur.execute(
            f"update {META_SCHEMA}.delivery_ledger set gated_at = now() "
            "where delivery_id = any(%s) and status = 'loaded'",
            (delivery_ids,),
        )


def gate_source(url: str, run_id: str, loaded: dict, cfg: Settings | None = None) -> dict:
    """The raw gate of one source, once over all its deliveries not gated yet (tonight's loads and
    any a stopped night left); each delivery that fails it gets the source's gate policy."""
    reg = registry.load()
    src = reg.source(loaded["source_id"])
    pending = _pending(url, src.id)
    outcomes = {
        d["delivery_id"]: {**d, "gate": "not run"}
        for d in loaded.get("deliveries") or []
        if d.get("delivery_id") is not None
    }
    if pending:
        results = gates.gate_raw_source(
            reg,
            src.id,
            {d: p["rows_loaded"] for d, p in pending.items()},
            roles.step_url(url, roles.LOADER),
            cfg,
        )
        blocked = []
        passed: list[tuple[str, str, dict | None]] = []
        for delivery_id, result in results.items():
            info = {
                **pending[delivery_id],
                "source_id": src.id,
                "partner_id": src.partner,
                "outcome": "loaded",
                **outcomes.get(delivery_id, {}),
            }
            if result.success:  # recorded together below: one connection for every page of an API fetch
                passed.append(
                    (
                        _gate_subject(src, info),
                        "passed",
                        {"failed": result.failed, "evaluated": result.evaluated},
                    )
                )
                outcomes[delivery_id] = {**info, "gate": "passed"}
                continue
            outcomes[delivery_id] = _apply_gate(url, run_id, reg, src, info, result, cfg)
            if outcomes[delivery_id]["gate"] == "blocked":
                blocked.append(result.describe())
        _log_many(url, run_id, "gate_raw", passed)
        if passed:
            first, last = passed[0][0], passed[-1][0]
            log.info(
                "%s: raw gate passed (%s expectations) on %s",
                src.id,
                max((detail or {}).get("evaluated", 0) for _, _, detail in passed),
                first if len(passed) == 1 else f"{len(passed)} deliveries, {first} ... {last}",
            )
        _passed(url, [d for d, o in outcomes.items() if o["gate"] == "passed"])
        if blocked:
            raise GateFailed("\n".join(blocked))
    return {**{k: v for k, v in loaded.items() if k != "deliveries"}, "deliveries": list(outcomes.values())}


def gate_raw(url: str, run_id: str, loaded: dict, cfg: Settings | None = None) -> dict:
    """Validate one loaded delivery in the warehouse; on failure apply the source's gate policy."""
    if loaded["outcome"] != "loaded":
        return {**loaded, "gate": "not run"}
    reg = registry.load()
    src = reg.source(loaded["source_id"])
    result = gates.gate_raw(reg, src.id, loaded["delivery_id"], roles.step_url(url, roles.LOADER), cfg)
    out = _apply_gate(url, run_id, reg, src, loaded, result, cfg)
    if out["gate"] == "blocked":
        raise GateFailed(result.describe())
    if out["gate"] == "passed":
        _passed(url, [loaded["delivery_id"]])
    return out


def _gate_subject(src, loaded: dict) -> str:
    return f"{src.id}:{loaded['delivery_date']}:{loaded['file_name']}"


def _apply_gate(url: str, run_id: str, reg, src, loaded: dict, result, cfg: Settings | None) -> dict:
    """Record one delivery's raw gate; a failure quarantines it (``gate_policy: quarantine``) or
    is returned as ``blocked`` for the caller to stop the night (``gate_policy: block``)."""
    subject = _gate_subject(src, loaded)
    _log(
        url,
        run_id,
        "gate_raw",
        subject,
        "passed" if result.success else "failed",
        {"failed": result.failed, "evaluated": result.evaluated},
    )
    log.info("%s: %s", subject, result.describe())
    if result.success:
        return {**loaded, "gate": "passed"}
    if src.gate_policy == "block":
        return {**loaded, "gate": "blocked"}
    reason = {
        "partner": src.partner,
        "source": src.id,
        "kind": "raw_gate_failed",
        "file": loaded["file_name"],
        "delivery_date": loaded["delivery_date"],
        "errors": result.failed,
    }
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn:
        target = load.unload_delivery(conn, reg, loaded["delivery_id"], reason, cfg)
    _log(
        url,
        run_id,
        "load_raw",
        subject,
        "quarantined",
        {**loaded, "reason": reason, "rows_loaded": 0, "quarantine_path": target},
    )
    log.warning("QUARANTINED after raw gate: %s -> %s", subject, target)
    return {**loaded, "outcome": "quarantined", "gate": "failed", "quarantine_path": target}


def prepare_transform(url: str, reg, cfg: Settings) -> None:
    """What dbt expects before it runs: the registry's seeds and staging models written, the bookkeeping schema, a
    raw table for every registered source (a source with no delivery yet is an empty table), and
    the testimony review queue up to date (lnob.transform.voices: new testimonies queued, withdrawals purged
    from the published schemas and files)."""
    registry.write_dbt_files(reg, cfg.dbt_project_dir)
    secure(url, cfg)  # objects someone created as the configured user go back to their role
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        meta.ensure(cur)
        for src in reg.sources.values():
            load.ensure_raw_table(cur, src)
    # testimonies: queue new ones for review with their automatic findings, purge withdrawals
    from lnob.transform import voices

    voices.refresh(url, reg, cfg)


#: Rounds of staging -> check -> hold back before the night gives up (each round holds back at
#: least one delivery, so this only bounds a pathological night).
MAX_HOLD_BACK_ROUNDS = 5


def transform_stage(url: str, run_id: str, cfg: Settings | None = None) -> dict:
    """dbt: seeds and staging first; what a source broke there (an unmapped code, a code outside
    its codelist, a key delivered twice, an unknown breakdown column, a failing staging test) is
    held back with its reason (lnob.quality.isolation) and the others go on; then intermediate and the
    marts into the audit schema. A failure records its dbt node, message and failing values."""
    cfg = cfg or settings()
    reg = registry.load()
    prepare_transform(url, reg, cfg)
    detail = _build_audit(url, run_id, reg, cfg)
    _log(url, run_id, "transform", "dbt", "ok", detail)
    log.info(
        "transform: %d dbt nodes built and tested into %s in %.1f s; held back: %s",
        detail["nodes"],
        AUDIT_SCHEMA,
        detail["seconds"],
        ", ".join(detail["held_back"]) or "nothing",
    )
    return detail


def _build_audit(url: str, run_id: str, reg, cfg: Settings) -> dict:
    as_transformer = roles.step_url(url, roles.TRANSFORMER)
    with warehouse.connect(as_transformer) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {AUDIT_SCHEMA} cascade")  # no leftovers of a failed night
    held: list[isolation.HeldBack] = []
    seconds = 0.0
    nodes = 0
    before = transform.recorded_build(as_transformer)
    transform.forget_build(as_transformer)  # until this build succeeds, the next one builds everything
    plan: transform.BuildPlan | None = None
    for _ in range(MAX_HOLD_BACK_ROUNDS):
        # the sources whose deliveries changed since the last successful build, and those an
        # earlier round staged (a hold-back takes a delivery back out of them)
        plan = transform.build_plan(as_transformer, cfg, before, plan)
        staged = transform.build_staging(as_transformer, cfg, plan)
        seconds += staged.seconds
        with warehouse.connect(as_transformer) as conn:
            problems = isolation.staging_problems(conn, reg, staged.results, cfg)
        if not problems:
            nodes = len(staged.results)
            break
        held += _hold_back(url, run_id, reg, problems, cfg, "transform")
    else:
        _log(
            url,
            run_id,
            "transform",
            "dbt",
            "failed",
            {"error": f"staging still failing after {MAX_HOLD_BACK_ROUNDS} rounds of holding back"},
        )
        raise transform.DbtError(f"staging still failing after {MAX_HOLD_BACK_ROUNDS} rounds of holding back")
    try:
        built = transform.build_downstream(as_transformer, cfg, plan)
    except transform.DbtError as exc:
        _log(
            url,
            run_id,
            "transform",
            "dbt",
            "failed",
            {"error": str(exc)[:4000], "failures": exc.failures[:20]},
        )
        raise
    transform.record_build(as_transformer, plan, cfg)
    return {
        "seconds": round(seconds + built.seconds, 1),
        "nodes": nodes + len(built.results),
        "built": "everything" if plan.changed is None else plan.changed,
        "held_back": [f"{h.source_id} delivery {h.delivery_id}" for h in held],
    }


def _hold_back(url: str, run_id: str, reg, problems: list, cfg: Settings, stage: str) -> list:
    """Quarantine what the problems pin down, log each delivery held back; a problem that cannot
    be held back (``gate_policy: block``, or data published before tonight) stops the night."""
    try:
        with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn:
            held = isolation.hold_back(conn, reg, problems, run_id, cfg)
    except isolation.SourceBlocked as exc:
        _log(
            url,
            run_id,
            stage,
            "dbt" if stage == "transform" else "hold_back",
            "failed",
            {"error": str(exc)[:4000], "problems": [asdict(p) for p in problems][:50]},
        )
        raise
    for h in held:
        _log(
            url,
            run_id,
            "hold_back",
            f"{h.source_id}:{h.delivery_date}:{h.delivery_id}",
            "held_back",
            asdict(h),
        )
    return held


def gate_marts(url: str, run_id: str, cfg: Settings | None = None) -> dict:
    """dbt's mart tests and the GX mart suite on the audit schema; both must pass to publish."""
    cfg = cfg or settings()
    problems: list[str] = []
    as_transformer = roles.step_url(url, roles.TRANSFORMER)
    for attempt in range(MAX_HOLD_BACK_ROUNDS + 1):
        dbt_result = transform.test_audit(as_transformer, cfg, check=False)
        if not dbt_result.failures or attempt == MAX_HOLD_BACK_ROUNDS:
            break
        # A failing mart test whose every failing row is one partner's data, delivered tonight:
        # that partner's deliveries are held back and the audit schema rebuilt without them.
        reg = registry.load()
        with warehouse.connect(as_transformer) as conn:
            found = isolation.mart_problems(conn, reg, dbt_result.failures, run_id)
        if found is None:
            break
        _hold_back(url, run_id, reg, found, cfg, "gate_marts")
        _build_audit(url, run_id, reg, cfg)
    if dbt_result.failures:
        _log(
            url,
            run_id,
            "gate_marts",
            "dbt_tests",
            "failed",
            {"error": (dbt_result.error or "")[:4000], "failures": dbt_result.failures[:20]},
        )
        problems.append(dbt_result.error or "dbt mart tests failed")
    else:
        _log(url, run_id, "gate_marts", "dbt_tests", "passed", {"tests": len(dbt_result.results)})
    gx_result = gates.gate_marts(as_transformer, cfg)
    _log(
        url,
        run_id,
        "gate_marts",
        "gx_marts",
        "passed" if gx_result.success else "failed",
        {
            "failed": gx_result.failed,
            "evaluated": gx_result.evaluated,
            "data_docs": gates.data_docs_index(cfg),
        },
    )
    log.info(gx_result.describe())
    if not gx_result.success:
        problems.append(gx_result.describe())
    if problems:
        raise GateFailed("mart gate failed; publication skipped, marts unchanged:\n" + "\n".join(problems))
    return {"dbt_tests": "passed", "gx": gx_result.evaluated}


def publish_stage(url: str, run_id: str) -> dict:
    with warehouse.connect(roles.step_url(url, roles.TRANSFORMER)) as conn:
        terminated = publish.swap(conn)  # reader sessions that held its locks past the grace period
        counts = publish.table_counts(conn, PUBLISHED_SCHEMA)
    _log(
        url,
        run_id,
        "publish",
        PUBLISHED_SCHEMA,
        "published",
        {"tables": counts, "terminated_readers": terminated},
    )
    log.info(
        "publish: %s swapped into %s (%d tables, %s rows; the previous night kept in marts_previous)",
        AUDIT_SCHEMA,
        PUBLISHED_SCHEMA,
        len(counts),
        f"{sum(counts.values()):,d}",
    )
    for table, n in counts.items():
        log.info("  %s.%s: %s rows", PUBLISHED_SCHEMA, table, f"{n:,d}")
    return counts


def export_stage(url: str, run_id: str, night: date, cfg: Settings | None = None) -> dict:
    from lnob.publish import export

    cfg = cfg or settings()
    out = cfg.exports_dir / night.isoformat()
    with warehouse.connect(roles.step_url(url, roles.READER)) as conn:  # reads what BI tools read
        files = export.export_all(conn, out)
    _log(url, run_id, "export", str(out), "ok", {"files": files})
    log.info("export: %d files in %s", len(files), out)
    return files


def summary(url: str, run_id: str, night: date, cfg: Settings | None = None) -> dict:
    """What the night did, from the run log: per source, per gate, published tables, files."""
    cfg = cfg or settings()
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute(
            f"select stage, subject, outcome, detail from {META_SCHEMA}.run_log where run_id = %s "
            "order by logged_at, stage, subject",
            (run_id,),
        )
        rows = cur.fetchall()
        published = publish.table_counts(conn, PUBLISHED_SCHEMA)
    sources: dict[str, dict] = {}
    gates_out: list[dict] = []
    exports: dict = {}
    extract_info: dict = {}
    held_back: list[dict] = []
    causes: list[str] = []
    config: list[str] = []  # a missing secret or setting: the cause of everything else that failed
    for stage, subject, outcome, detail in rows:
        if stage == "config" and outcome == "failed":
            config.append(str((detail or {}).get("error", f"{subject} is not configured")))
        if stage == "hold_back":
            held_back.append(
                {
                    "source": detail.get("source_id"),
                    "partner": detail.get("partner_id"),
                    "delivery_id": detail.get("delivery_id"),
                    "file": detail.get("file_name"),
                    "delivery_date": detail.get("delivery_date"),
                    "why": [_problem_line(p) for p in detail.get("problems", [])],
                    # codes as lnob.quality.isolation bounds them (a spelling, or its shape)
                    "unmapped": [
                        {"column": p.get("column"), "values": p.get("values", [])}
                        for p in detail.get("problems", [])
                        if p.get("check") == "unmapped_code"
                    ],
                }
            )
        if stage in ("transform", "gate_marts") and outcome == "failed":
            causes.append(f"{stage} {subject}: " + _cause(detail or {}))
        if stage == "extract" and subject == "*":
            extract_info = detail
        if stage == "load_raw":
            s = sources.setdefault(
                detail.get("source_id", subject.split(":")[0]),
                {"deliveries": 0, "rows_loaded": 0, "duplicates": 0, "quarantined": 0, "quarantine": []},
            )
            s["deliveries"] += 1
            if outcome == "loaded":
                s["rows_loaded"] += detail.get("rows_loaded", 0)
                # survey platforms: submissions delivered = loaded + rejected + quarantined alone
                if detail.get("submissions"):
                    tally = s.setdefault(
                        "submissions", {"delivered": 0, "loaded": 0, "rejected": 0, "quarantined": 0}
                    )
                    for k in tally:
                        tally[k] += detail["submissions"].get(k, 0)
                for q in detail.get("quarantined_submissions") or []:
                    s["quarantine"].append(q.get("quarantine_path"))
            elif outcome == "duplicate":
                s["duplicates"] += 1
            elif outcome == "quarantined":
                s["quarantined"] += 1
                s["quarantine"].append(detail.get("quarantine_path"))
        if stage in ("gate_raw", "gate_marts"):
            gates_out.append(
                {
                    "stage": stage,
                    "subject": subject,
                    "outcome": outcome,
                    "failed": [
                        f"{f.get('table')}: {f.get('expectation')}({f.get('column') or ''})"
                        for f in (detail or {}).get("failed", [])
                    ]
                    + [
                        f"{f['node']}: {f['status']}: {f.get('message')}"
                        + "".join(f"; e.g. {x}" for x in f.get("sample", [])[:3])
                        for f in (detail or {}).get("failures", [])
                    ],
                }
            )
        if stage == "export":
            exports = {"dir": subject, "files": detail.get("files", {})}
    stages = sorted({r[0] for r in rows})
    published_tonight = any(r[0] == "publish" for r in rows)
    problems = [
        f"{g['stage']} {g['subject']} failed"
        for g in gates_out
        if g["outcome"] == "failed" and g["stage"] == "gate_marts"
    ]
    problems += [
        f"fetch {r[1]} failed: {(r[3] or {}).get('error', '')[:300]}"
        for r in rows
        if r[0] == "fetch" and r[2] == "failed"
    ]
    problems += [c for c in causes if not c.startswith("gate_marts")]
    for stage in ("extract", "transform", "publish", "export"):
        if stage not in stages:
            problems.append(f"stage {stage} did not complete")
    problems = config + problems
    return {
        "run_id": run_id,
        "night": night.isoformat(),
        "extract": extract_info,
        "sources": sources,
        "held_back": held_back,
        "gates": gates_out,
        "published_tonight": published_tonight,
        "published_tables": published,
        "exports": exports,
        "stages_logged": stages,
        "complete": not problems,
        "problems": problems,
        "data_docs": gates.data_docs_index(cfg),
    }


def _problem_line(p: dict) -> str:
    codes = ", ".join(f"{v['value']} x{v['rows']}" for v in p.get("values", []))
    column = f" column {p['column']}" if p.get("column") else ""
    return f"{p.get('check')}{column}: {p.get('message')}" + (f" [{codes}]" if codes else "")


def _cause(detail: dict) -> str:
    """The first lines of a failure's cause: each failing dbt node with a sample, or the error."""
    failures = detail.get("failures") or []
    if failures:
        return "; ".join(
            f"{f['node']}: {f.get('message')}" + "".join(f" (e.g. {x})" for x in f.get("sample", [])[:2])
            for f in failures[:5]
        )
    return str(detail.get("error", "failed"))[:1500]


def format_summary(s: dict) -> str:
    lines = [f"LNOB nightly run {s['run_id']} (night of {s['night']})", ""]
    ex = s.get("extract") or {}
    lines.append(
        f"Extract: {ex.get('new', 0)} new deliveries, {ex.get('already_loaded', 0)} already loaded "
        f"(landing: {ex.get('landing_dir', '?')})"
    )
    lines.append("Sources (rows loaded / duplicates / quarantined):")
    if not s["sources"]:
        lines.append("  (no new deliveries tonight)")
    for src, info in sorted(s["sources"].items()):
        lines.append(
            f"  {src:32s} {info['rows_loaded']:>10,d} rows  {info['duplicates']} dup  "
            f"{info['quarantined']} quarantined"
        )
        subs = info.get("submissions")
        if subs:
            lines.append(
                f"      submissions: {subs['delivered']:,d} delivered = {subs['loaded']:,d} loaded + "
                f"{subs['rejected']:,d} rejected by the partner's reviewers (kept in raw, left out of "
                f"every estimate) + {subs['quarantined']:,d} quarantined alone"
            )
        for q in info["quarantine"]:
            lines.append(f"      quarantined file: {safe_name(q, 400)}")
    refused = ex.get("rejected") or []
    if refused:
        lines.append(f"Refused in the landing folder, never read ({ex.get('rejected_total', len(refused))}):")
        for r in refused[:50]:
            lines.append(f"  {safe_name(r.get('path'), 400)}: {safe_name(r.get('reason'))}")
    if s.get("held_back"):
        lines.append("Held back tonight (the other sources went on):")
        for h in s["held_back"]:
            lines.append(
                f"  {h['source']} ({h['partner']}) delivery {h['delivery_id']} of {h['delivery_date']}: "
                f"{safe_name(h['file'], 400)}"
            )
            lines += [f"      {safe_name(w, 1000)}" for w in h["why"]]
    if s.get("problems"):
        lines.append("Problems:")
        lines += [f"  {safe_name(line, 2000)}" for p in s["problems"] for line in str(p).splitlines()]
    lines.append("Gates:")
    for g in s["gates"]:
        lines.append(f"  {g['stage']:10s} {safe_name(g['subject'], 400):48s} {g['outcome'].upper()}")
        for f in g["failed"]:
            lines.append(f"      failed: {f}")
    state = "published tonight" if s["published_tonight"] else "NOT published tonight (marts unchanged)"
    lines.append(f"Published schema `marts`: {state}")
    for t, n in sorted(s["published_tables"].items()):
        lines.append(f"  marts.{t:40s} {n:>8,d} rows")
    if s.get("exports"):
        lines.append(f"Exports: {s['exports']['dir']}")
        for name, info in sorted(s["exports"]["files"].items()):
            lines.append(f"  {name:48s} {info['rows']:>8,d} rows")
    if s.get("report_path"):
        lines.append(f"Run summary: {s['report_path']}")
    if s.get("report_html"):
        lines.append(f"Run report:  {s['report_html']}")
    if s.get("index_html"):
        lines.append(f"All runs:    {s['index_html']}")
    lines.append(f"GX Data Docs: {s['data_docs']}")
    return "\n".join(lines)


def report_stage(url: str, run_id: str, night: date, cfg: Settings | None = None) -> dict:
    """Write the run summary (JSON and text) and the HTML run report (lnob.publish.report) of this run in
    ``<reports>/<night>/<run>/`` (a re-run of the night is a new run with its own folder, nothing
    is overwritten), and the pointers to the latest: ``<reports>/<night>/summary.{json,txt}`` and
    ``report.html`` (the night's latest run), ``<reports>/latest.{json,html}`` and the index of
    every run ``<reports>/index.html``. ``complete`` says whether every stage succeeded."""
    from datetime import UTC, datetime

    from lnob.publish import report

    cfg = cfg or settings()
    s = summary(url, run_id, night, cfg)
    s["written_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    night_dir = cfg.reports_dir / night.isoformat()
    folder = night_dir / report.safe_run(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    s["report_path"] = str(path)
    try:  # the HTML report (charts, freshness, history); if it cannot be written the night says so
        s["report_html"] = str(report.write(url, run_id, night, s, cfg))
    except Exception as exc:  # noqa: BLE001 - the summary must still be written
        log.exception("the HTML run report could not be written")
        s["problems"].append(f"HTML run report failed: {exc}")
        s["complete"] = False
        for key in ("report_html", "night_report_html", "index_html"):  # not written: not named
            s.pop(key, None)
    text = json.dumps(s, indent=2, default=str)
    path.write_text(text)
    (folder / "summary.txt").write_text(format_summary(s) + "\n")
    # the pointers name the run written last: this one
    (night_dir / "summary.json").write_text(text)
    (night_dir / "summary.txt").write_text(format_summary(s) + "\n")
    (cfg.reports_dir / "latest.json").write_text(text)
    log.info("\n%s", format_summary(s))
    return s


def latest_summary(cfg: Settings | None = None) -> dict | None:
    """The summary of the latest run (``<reports>/latest.json``), or None before the first."""
    cfg = cfg or settings()
    p = Path(cfg.reports_dir / "latest.json")
    return json.loads(p.read_text()) if p.exists() else None
