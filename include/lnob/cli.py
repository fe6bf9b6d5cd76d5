"""``lnob``: the command line of the data platform.

lnob warehouse start|stop|status|url    the embedded (or configured) PostgreSQL
lnob warehouse roles                     create the least-privilege roles and grants (idempotent)
lnob superset setup                      Superset reads the marts as lnob_bi_reader, dashboard from bi/superset
lnob superset serve                      Superset locally (its own virtualenv, SQLite metadata) on the embedded warehouse
lnob registry check|generate             validate the registry | write the dbt files it owns
lnob sample generate [--persons N] [--seed S] [--date D] [--out DIR] [--only SOURCE...]
                                         write one night of synthetic partner deliveries
lnob load <source_id> <path>             load one delivery and run its raw gate (the DAG's code path)
lnob quarantine list | retry <id>        quarantined deliveries and their reasons; load one again
lnob delivery unload <id> --reason WHY   take a loaded delivery's rows out of raw (logged: who, when, why)
lnob delivery reload <id> --reason WHY   load an unloaded delivery again from its file (same rows)
lnob delivery history <id>               a delivery's ledger row and every change of its status
lnob gates scaffold                      (re)write the GX suites and checkpoints
lnob reference seeds                     regenerate the dbt seeds from shared/reference
lnob publish rollback                    restore last night's marts
lnob voices refresh|list|withdrawals     testimonies: queue new ones for review, purge withdrawals; the queue
lnob voices review export|import <file>  the offline review file (CSV or JSON) a partner fills in
lnob voices approve|reject <key>         one decision (--text edited text, --override --reason ...)
lnob airflow <args...>                   Airflow with the project's home and connection
lnob demo [--date D] [--persons N]       one night end to end, then the summary
lnob summary                             print the last run summary
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
from datetime import UTC, date, timedelta
from pathlib import Path
from types import ModuleType


def _dev_tool(module: str, command: str) -> ModuleType:
    """A development tool (the sample generator, the benchmarks): in a source checkout's install, not
    in the production image. Its absence is said in one line rather than as a traceback."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise SystemExit(
                f"`{command}` needs the development tools ({module}), which this installation does not "
                "have (the production image leaves them out): install the project from a source "
                "checkout (`make install`, or `pip install -e .`)"
            ) from None
        raise


def _cmd_warehouse(args) -> int:
    from lnob.platform import warehouse

    if args.action == "start":
        url = warehouse.start()
        print(f"warehouse ready: {warehouse.redact(url)}")
    elif args.action == "stop":
        print("stopped" if warehouse.stop() else "not running (nothing to stop)")
    elif args.action == "status":
        st = warehouse.status()
        print(json.dumps(st, indent=2))
        return 0 if st["running"] else 3
    elif args.action == "url":
        print(warehouse.url())
    elif args.action == "roles":
        from lnob.platform import roles

        url = warehouse.start()
        with warehouse.connect(url) as conn:
            for line in roles.ensure(conn):
                print(line)
        print(
            f"{roles.READER} logs in as {warehouse.redact(roles.reader_url(url))} "
            f"(password: ${roles.PASSWORD_VARIABLE} or $LNOB_HOME/roles.json)"
        )
    return 0


def _cmd_superset(args) -> int:
    from lnob.publish import superset

    try:
        if args.action == "setup":
            for line in superset.setup():
                print(line)
            return 0
        return superset.serve_with_dashboard(port=args.port)
    except superset.SupersetError as exc:
        print(exc, file=sys.stderr)
        return 2


def _cmd_registry(args) -> int:
    from lnob import registry

    try:
        reg = registry.load(Path(args.path) if args.path else None)
    except registry.RegistryError as exc:
        print(exc, file=sys.stderr)
        return 2
    from lnob.platform.config import settings
    from lnob.registry import dbt_files

    if args.action in ("generate", "seeds"):
        for path in registry.write_dbt_files(reg, settings().dbt_project_dir):
            print(f"wrote {path}" if path.exists() else f"removed {path}")
        return 0
    print(
        f"registry OK: {reg.path}: {len(reg.icsos)} ICSOs, {len(reg.countries)} countries, "
        f"{len(reg.groups)} groups, {len(reg.partners)} partners, {len(reg.sources)} sources"
    )
    for pid, partner in reg.partners.items():
        print(f"  {pid:26s} {partner.kind:9s} {partner.country or '':4s} {partner.name}")
        for src in reg.sources_of(pid):
            print(
                f"      {src.id:28s} {src.type:13s} {src.kind:10s} {src.cadence:9s} "
                f"{len(src.fields)} fields, gate policy {src.gate_policy}"
            )
    drift = dbt_files.drift(reg, settings().dbt_project_dir)
    if drift:
        print(
            f"{len(drift)} dbt file(s) follow from this registry and are not written yet (the night "
            "writes them; `lnob registry generate` writes them now):"
        )
        print("\n".join(f"  {d}" for d in drift))
    return 0


def _cmd_sample(args) -> int:
    from lnob.platform.config import settings

    sample = _dev_tool("lnob_dev.sample", "lnob sample")

    out = Path(args.out) if args.out else settings().landing_dir
    for p in sample.generate(out, args.persons, args.seed, date.fromisoformat(args.date), args.only):
        print(p)
    return 0


def _cmd_load(args) -> int:
    """Load one delivery and run its raw gate, exactly as the nightly DAG's load_raw and gate_raw
    do. The file is read as the DAG reads the landing folder: a regular file, no link, a safe name."""
    from lnob import pipeline, registry
    from lnob.ingest import landing, load
    from lnob.platform import roles, warehouse

    reg = registry.load()
    src = reg.source(args.source_id)
    given = Path(os.path.abspath(args.path))
    path = Path(os.path.realpath(given.parent)) / given.name  # the folder as named; the file is no link
    problem = landing.name_problem(path.name)
    if problem:
        print(f"refused {landing.safe_name(path, 400)}: {problem}", file=sys.stderr)
        return 2
    try:
        sha = load.file_sha256(path)
    except OSError as exc:
        print(f"refused {landing.safe_name(path, 400)}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        ddate = date.fromisoformat(path.parent.name).isoformat()
    except ValueError:
        ddate = args.date or date.today().isoformat()
    d = load.Delivery(src.id, src.partner, ddate, str(path), sha)
    url = warehouse.url()
    pipeline.secure(url)  # as the night does: roles and grants first, then load as the loader
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn:
        r = load.load_delivery(conn, reg, d, run_id="cli")
    out = dataclasses.asdict(r)
    if r.outcome == "loaded":
        try:
            out = pipeline.gate_raw(url, "cli", out)
        except pipeline.GateFailed as exc:  # a `block` source: the delivery stays, the night would stop
            print(json.dumps({**out, "gate": "failed"}, indent=2, default=str))
            print(exc, file=sys.stderr)
            return 5
    print(json.dumps(out, indent=2, default=str))
    return 0 if out["outcome"] != "quarantined" else 4


def _cmd_quarantine(args) -> int:
    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse

    with warehouse.connect(warehouse.url()) as conn:
        if args.action == "list":
            rows = load.quarantined(conn)
            if not rows:
                print("no quarantined deliveries")
            for r in rows:
                reason = r["reason"] or {}
                errors = reason.get("errors") or [{}]
                first = errors[0]
                print(
                    f"{r['delivery_id']:>6}  {r['source_id']:28s} {r['partner_id']:22s} {r['delivery_date']}  "
                    f"{reason.get('kind', '?')} ({reason.get('errors_total', len(errors))} problem(s))"
                )
                print(f"        file: {r['file_path']}")
                if first:
                    print(
                        f"        first: row {first.get('row')}, column {first.get('column')!r}: expected "
                        f"{first.get('expected')}, found {str(first.get('found') or first.get('expectation', ''))!r}"
                    )
            return 0
        if args.id is None:
            print("lnob quarantine retry needs the delivery id (see `lnob quarantine list`)", file=sys.stderr)
            return 2
        result = load.retry_quarantined(conn, registry.load(), args.id, run_id="cli-retry")
    print(json.dumps(dataclasses.asdict(result), indent=2, default=str))
    return 0 if result.outcome == "loaded" else 1


def _cmd_delivery(args) -> int:
    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse
    from lnob.platform.config import META_SCHEMA

    with warehouse.connect(warehouse.url()) as conn:
        if args.action == "history":
            with conn.cursor() as cur:
                cur.execute(
                    f"""select delivery_id, source_id, delivery_date, file_name, status, rows_loaded,
                                       replaced_by, changed_by, changed_at, change_reason, file_path
                                from {META_SCHEMA}.delivery_ledger where delivery_id = %s""",
                    (args.id,),
                )
                row = cur.fetchone()
                if row is None:
                    print(f"no delivery {args.id} in the ledger", file=sys.stderr)
                    return 2
                cols = [c.name for c in cur.description]
                print(json.dumps(dict(zip(cols, row, strict=True)), indent=2, default=str))
                cur.execute(
                    f"""select logged_at, action, status, rows_loaded, actor, reason, run_id
                                from {META_SCHEMA}.delivery_events where delivery_id = %s
                                order by event_id""",
                    (args.id,),
                )
                for at, action, status, rows, who, why, run in cur.fetchall():
                    print(
                        f"{at:%Y-%m-%d %H:%M:%S%z}  {action:8s} -> {status:11s} {rows:>8} rows  by {who}"
                        f"{f'  run {run}' if run else ''}{f': {why}' if why else ''}"
                    )
            return 0
        if not args.reason:
            print(f"lnob delivery {args.action} needs --reason (it is logged in the ledger)", file=sys.stderr)
            return 2
        reg = registry.load()
        try:
            if args.action == "unload":
                who = load.actor()
                path = load.unload_delivery(
                    conn,
                    reg,
                    args.id,
                    {"kind": "unloaded", "by": who, "why": args.reason},
                    status="unloaded",
                    by=who,
                    why=args.reason,
                    run_id="cli-unload",
                )
                print(
                    f"delivery {args.id} unloaded by {who}: its rows left raw; staging drops them on the "
                    f"next transform. File kept at {path} (`lnob delivery reload {args.id}` loads it again)"
                )
                return 0
            result = load.reload_delivery(conn, reg, args.id, why=args.reason, run_id="cli-reload")
        except (KeyError, ValueError, FileNotFoundError) as exc:
            print(str(exc).strip("'\""), file=sys.stderr)
            return 2
    print(json.dumps(dataclasses.asdict(result), indent=2, default=str))
    return 0 if result.outcome == "loaded" else 1


def _cmd_gates(args) -> int:
    from lnob import registry
    from lnob.platform import warehouse
    from lnob.quality import gates

    print("\n".join(gates.scaffold(registry.load(), warehouse.url())))
    return 0


def _cmd_reference(args) -> int:
    from lnob.transform import reference

    for p in reference.write_seeds():
        print(p)
    return 0


def _cmd_publish(args) -> int:
    from lnob.platform import warehouse
    from lnob.publish import swap as publish

    with warehouse.connect() as conn:
        publish.rollback(conn)
        counts = publish.table_counts(conn)
    print("rolled back: marts restored from marts_previous")
    for t, n in counts.items():
        print(f"  marts.{t}: {n} rows")
    return 0


def _cmd_voices(args) -> int:
    """The testimony review queue (lnob.transform.voices): decisions run as the loader, owner of lnob_meta."""
    from lnob import registry
    from lnob.platform import roles, warehouse
    from lnob.transform import voices

    url = warehouse.start()
    reg = registry.load()
    if args.action == "refresh":
        out = voices.refresh(url, reg, all_files=args.all)
        print(
            f"{out['queued']} queued, {out['reopened']} re-opened, {len(out['withdrawn'])} withdrawn, "
            f"{out['pending']} pending review"
        )
        for f in out["purged"].get("files", []):
            print(f"  withdrawn testimony removed: {f['action']} {f['path']}")
        return 0
    with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
        voices.ensure(cur)
        if args.action == "list":
            rows = voices.listing(cur, args.state)
            for r in rows:
                print(
                    f"{r['testimony_key'][:16]}  {r['source_id']:12s} {r['state']:9s} {r['findings']:>2} finding(s)"
                    f"{'  edited' if r['edited'] else ''}{'  OVERRIDE' if r['override'] else ''}"
                    f"{'  by ' + r['reviewer'] if r['reviewer'] else ''}"
                )
            print(f"{len(rows)} testimonies" + (f" {args.state}" if args.state else ""))
            return 0
        if args.action == "withdrawals":
            for w in voices.withdrawals(cur):
                print(
                    f"{w['testimony_key'][:16]}  {w['source_id']:12s} {w['detected_at']:%Y-%m-%d %H:%M}  "
                    f"marts {w['marts_rows']}, marts_previous {w['previous_rows']}, "
                    f"{len(w['files_cleaned'])} file(s) cleaned"
                )
            return 0
        if args.action == "review":
            if args.verb not in ("export", "import") or not args.target:
                print("usage: lnob voices review export|import <file>", file=sys.stderr)
                return 2
            path = Path(args.target)
            if args.verb == "export":
                n = voices.export_pending(cur, reg, path, include_all=args.all)
                print(
                    f"wrote {n} item(s) to {path} (mode 600: it holds the original texts; delete it after import)"
                )
                return 0
            applied, errors = voices.import_decisions(cur, reg, path, args.reviewer)
            for a in applied:
                print(
                    f"{a['testimony_key'][:16]}  {a['state']}{'  edited' if a['edited'] else ''}"
                    f"{'  OVERRIDE' if a['override'] else ''}"
                )
            for e in errors:
                print(e, file=sys.stderr)
            print(f"{len(applied)} decision(s) applied, {len(errors)} refused")
            return 1 if errors else 0
        if not args.verb:
            print(f"usage: lnob voices {args.action} <testimony key>", file=sys.stderr)
            return 2
        text = Path(args.text_file).read_text(encoding="utf-8") if args.text_file else args.text
        try:
            r = voices.decide(
                cur, reg, args.verb, args.action, text, args.override, args.reason, args.reviewer
            )
        except voices.ReviewError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(
            f"{r['testimony_key']}: {r['state']}{' (edited text)' if r['edited'] else ''}"
            f"{' (override recorded)' if r['override'] else ''}"
        )
    return 0


def _cmd_airflow(args) -> int:
    from lnob.airflow import airflow_env
    from lnob.platform import warehouse
    from lnob.platform.config import settings

    if args.rest[:1] in (["standalone"], ["api-server"]):  # the UI: its port must be free
        port = airflow_env.api_port()
        if not warehouse._port_free(port):
            print(
                f"port {port} is taken by another program: choose another one, e.g. "
                f"`make airflow PORT={warehouse.free_port()}` (or set {airflow_env.PORT_VAR})",
                file=sys.stderr,
            )
            return 2
        password = settings().airflow_home / "simple_auth_manager_passwords.json.generated"
        print(f"Airflow UI: {airflow_env.api_base_url()}  (user admin; password in {password})", flush=True)
    return airflow_env.run_airflow(args.rest, warehouse.start())


def _cmd_dbt(args) -> int:
    """dbt against the configured warehouse, with the project's profile, seeds and pseudonym key."""
    import subprocess

    from lnob import pipeline, registry
    from lnob.platform import warehouse
    from lnob.platform.config import settings
    from lnob.transform import runner as transform

    cfg = settings()
    url = warehouse.start()
    pipeline.prepare_transform(url, registry.load(), cfg)
    rest = [a for a in args.rest if a != "--"]
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [
        str(dbt) if dbt.exists() else "dbt",
        *rest,
        "--project-dir",
        str(cfg.dbt_project_dir),
        "--profiles-dir",
        str(cfg.dbt_project_dir),
        "--target-path",
        str(cfg.home / "dbt" / "target"),
        "--log-path",
        str(cfg.home / "dbt" / "logs"),
    ]
    return subprocess.run(cmd, env=transform.dbt_env(url, cfg), cwd=cfg.dbt_project_dir).returncode


def _cmd_summary(args) -> int:
    from lnob import pipeline

    s = pipeline.latest_summary()
    if not s:
        print("no run summary yet: run `make demo`", file=sys.stderr)
        return 1
    print(pipeline.format_summary(s))
    return 0


def demo_key() -> str:
    """A throwaway pseudonymisation key for the demo only, derived from the local state folder
    (stable across demo runs so re-runs are idempotent; never used when LNOB_PSEUDONYM_KEY is set)."""
    from lnob.platform.config import settings

    return "demo-only-" + hashlib.sha256(str(settings().home).encode()).hexdigest()[:32]


class _Style:
    """Colour for a person at a terminal; plain text for a file, a pipe or ``NO_COLOR``."""

    def __init__(self, stream) -> None:
        self.on = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.on else text

    def state(self, state: str, width: int = 0) -> str:
        return self(
            f"{state:{width}s}", {"success": "32", "failed": "31", "upstream_failed": "31"}.get(state, "33")
        )


def _follow(path: Path, stop, out, style: _Style) -> None:
    """One line per finished task of ``airflow dags test``, read from its log as it is written."""
    import re
    import time

    done = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
    label = re.compile(r"rendered_map_index='([^']*)'")
    state_re = re.compile(r"new_state=(\w+)")
    last_label, last_state = "", "?"
    with open(path, errors="replace") as fh:
        while True:
            line = fh.readline()
            if not line:
                if stop.is_set():
                    return
                time.sleep(0.3)
                continue
            if m := label.search(line):
                last_label = m.group(1)
            if "Task instance state updated" in line and (m := state_re.search(line)):
                last_state = m.group(1)
            if m := done.search(line):
                task, index = m.groups()
                what = (last_label or f"map index {index}") if index != "-1" else ""
                print(
                    f"  {style.state(last_state, 15)} {task:11s} {what[:100]}".rstrip(), file=out, flush=True
                )
                last_label, last_state = "", "?"


def demo_summary(s: dict, log_path: Path, style: _Style) -> str:
    """The demo's closing words: what was loaded, quarantined, held back, gated and published,
    where to look and what to run next (the full summary: `lnob summary`)."""
    sources = s.get("sources") or {}
    rows = sum(v["rows_loaded"] for v in sources.values())
    deliveries = sum(v["deliveries"] for v in sources.values())
    quarantined = sum(v["quarantined"] for v in sources.values())
    gates_run = s.get("gates") or []
    failed = [g for g in gates_run if g["outcome"] == "failed"]
    tables = s.get("published_tables") or {}
    state = style("complete", "1;32") if s.get("complete") else style("INCOMPLETE", "1;31")
    lines = [
        f"Night of {s['night']}: {state}  (run {s['run_id']})",
        f"  loaded       {deliveries} deliveries of {len(sources)} sources, {rows:,d} rows",
    ]
    lines.append(
        f"  quarantined  {quarantined} deliver{'y' if quarantined == 1 else 'ies'}"
        + ("  (why: `lnob quarantine list`)" if quarantined else "")
    )
    if s.get("held_back"):
        lines.append(
            "  held back    "
            + ", ".join(f"{h['source']} delivery {h['delivery_id']}" for h in s["held_back"])
        )
    lines.append(
        f"  gates        {len(gates_run) - len(failed)} passed, {len(failed)} failed"
        + "".join(
            f"\n               {style('FAILED', '31')} {g['stage']} {g['subject']}"
            + (f": {g['failed'][0]}" if g["failed"] else "")
            for g in failed[:5]
        )
    )
    if s.get("published_tonight"):
        lines.append(f"  published    {len(tables)} marts in schema `marts`, {sum(tables.values()):,d} rows")
        cells = [f"marts.{t:28s} {n:>9,d}" for t, n in sorted(tables.items())]
        lines += ["               " + "   ".join(cells[i : i + 2]) for i in range(0, len(cells), 2)]
    else:
        lines.append("  published    nothing tonight: the `marts` schema is as it was")
    for p in (s.get("problems") or [])[:5]:
        lines.append(f"  {style('problem', '31')}      {str(p).splitlines()[0][:300]}")
    lines += ["", "Where to look"]
    if s.get("report_html"):
        lines.append(f"  run report   {s['report_html']}")
    lines.append(f"  summary      {s.get('report_path', '?')}  (all of it: `lnob summary`)")
    if (s.get("exports") or {}).get("dir"):
        lines.append(f"  exports      {s['exports']['dir']}")
    lines.append(f"  data docs    {s.get('data_docs')}")
    lines.append(f"  full log     {log_path}")
    lines += [
        "",
        "What next",
        "  make airflow             the Airflow UI: the night's grid, task logs, the marts as assets",
        "  lnob quarantine list     what was quarantined and why",
        "  lnob dbt build -s marts  dbt on the warehouse (any dbt command)",
        "  make test                the test suite",
    ]
    return "\n".join(lines)


def _cmd_demo(args) -> int:
    """One night end to end. The terminal gets a few lines per stage and the summary; everything
    Airflow, dbt and Great Expectations print goes to a log file whose path is printed."""
    import threading
    from datetime import datetime

    from lnob import pipeline
    from lnob.airflow import airflow_env
    from lnob.platform import warehouse
    from lnob.platform.config import settings

    sample = _dev_tool("lnob_dev.sample", "lnob demo")
    style = _Style(sys.stdout)
    if not os.environ.get("LNOB_PSEUDONYM_KEY"):
        os.environ["LNOB_PSEUDONYM_KEY"] = demo_key()
        print("LNOB_PSEUDONYM_KEY not set: using a throwaway demo key (never use it for real data)")
    cfg = settings()
    night = date.fromisoformat(args.date)
    url = warehouse.start(cfg)
    mode = "external" if cfg.external_warehouse else "embedded"
    print(f"warehouse ({mode}): {warehouse.redact(url)}")
    files = sample.generate(cfg.landing_dir, args.persons, args.seed, night)
    print(
        f"sample: {len(files)} delivery files of {len({p.parent.parent for p in files})} partners "
        f"({args.persons:,d} persons) in {cfg.landing_dir}"
    )
    os.environ.setdefault("LNOB_TASK_RETRIES", "0")  # the demo shows a failure at once
    logs = cfg.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"demo-{night}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    print(f"nightly run of {night} (airflow dags test lnob_nightly); full log: {log_path}", flush=True)
    stop = threading.Event()
    with open(log_path, "w") as output:
        follower = threading.Thread(target=_follow, args=(log_path, stop, sys.stdout, style), daemon=True)
        follower.start()
        try:
            rc = airflow_env.run_airflow(
                ["dags", "test", "lnob_nightly", night.isoformat()], url, cfg, output
            )
        finally:
            stop.set()
            follower.join(timeout=10)
    s = pipeline.latest_summary(cfg)
    if s and s["night"] == night.isoformat():
        airflow_env.file_task_logs(log_path, s["run_id"], cfg=cfg)  # the UI shows each task's log
    print()
    if s and s["night"] == night.isoformat():
        print(demo_summary(s, log_path, style))
    else:
        print(f"no run summary was written: the cause is in the log, {log_path}")
        for line in _error_lines(log_path):
            print(f"  {line}")
    if rc != 0 or not (s and s.get("complete")):
        print(f"the nightly run did not complete (airflow exit {rc})", file=sys.stderr)
        return rc or 1
    return 0


def _error_lines(path: Path, limit: int = 5) -> list[str]:
    """The first error lines of a log (the cause comes first; the traceback follows it)."""
    found = []
    with open(path, errors="replace") as fh:
        for line in fh:
            if "[error" in line or line.startswith(("airflow.", "lnob.")) and "Error" in line:
                found.append(line.strip()[:300])
                if len(found) == limit:
                    break
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lnob", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("warehouse", help="the embedded or configured PostgreSQL")
    p.add_argument("action", choices=["start", "stop", "status", "url", "roles"])
    p.set_defaults(func=_cmd_warehouse)

    p = sub.add_parser("superset", help="Apache Superset reads the published marts as lnob_bi_reader")
    p.add_argument("action", choices=["setup", "serve"])
    p.add_argument("--port", type=int, default=int(os.environ.get("LNOB_SUPERSET_PORT", "8088")))
    p.set_defaults(func=_cmd_superset)

    p = sub.add_parser("registry", help="the partner and source registry")
    p.add_argument("action", choices=["check", "generate", "seeds"])
    p.add_argument("--path", help="registry file (default: LNOB_REGISTRY or the bundled one)")
    p.set_defaults(func=_cmd_registry)

    p = sub.add_parser("sample", help="synthetic partner deliveries")
    p.add_argument("action", choices=["generate"])
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--date", default=(date.today() - timedelta(days=1)).isoformat())
    p.add_argument("--out", help="landing folder (default: LNOB_LANDING_DIR)")
    p.add_argument("--only", nargs="+", metavar="SOURCE", help="only these sources (default: all)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("load", help="load one delivery through the DAG's code path")
    p.add_argument("source_id")
    p.add_argument("path")
    p.add_argument("--date", help="delivery date when the file is not in a <YYYY-MM-DD> folder")
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("quarantine", help="quarantined deliveries")
    p.add_argument("action", choices=["list", "retry"])
    p.add_argument("id", nargs="?", type=int, help="delivery id to retry")
    p.set_defaults(func=_cmd_quarantine)

    p = sub.add_parser("delivery", help="one delivery: unload, reload, history (logged in the ledger)")
    p.add_argument("action", choices=["unload", "reload", "history"])
    p.add_argument("id", type=int, help="delivery id (lnob_meta.delivery_ledger)")
    p.add_argument("--reason", help="why (required for unload and reload; kept in the ledger)")
    p.set_defaults(func=_cmd_delivery)

    p = sub.add_parser("gates", help="Great Expectations context")
    p.add_argument("action", choices=["scaffold"])
    p.set_defaults(func=_cmd_gates)

    p = sub.add_parser("reference", help="seeds generated from shared/reference")
    p.add_argument("action", choices=["seeds"])
    p.set_defaults(func=_cmd_reference)

    p = sub.add_parser("publish", help="published schema")
    p.add_argument("action", choices=["rollback"])
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser("voices", help="testimonies: review queue, offline review file, withdrawals")
    p.add_argument("action", choices=["refresh", "list", "withdrawals", "review", "approve", "reject"])
    p.add_argument(
        "verb",
        nargs="?",
        help="review: export|import; approve/reject: the testimony key (or 8+ first characters)",
    )
    p.add_argument("target", nargs="?", help="review: the file (.csv or .json)")
    p.add_argument(
        "--state", choices=["pending", "approved", "rejected", "withdrawn"], help="list: only these"
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="review export: decided testimonies too; refresh: clean the "
        "export and report files of every withdrawn testimony again",
    )
    p.add_argument("--text", help="approve: the edited text to publish instead of the original")
    p.add_argument("--text-file", help="approve: read the edited text from this file")
    p.add_argument(
        "--override",
        action="store_true",
        help="approve a text that still has an automatic finding (needs --reason; recorded)",
    )
    p.add_argument("--reason", help="why (override), or a note (reject)")
    p.add_argument("--reviewer", help="who decides (default: $USER)")
    p.set_defaults(func=_cmd_voices)

    p = sub.add_parser("airflow", help="run Airflow with the project's home and connection")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_airflow)

    p = sub.add_parser("dbt", help="dbt on the configured warehouse (e.g. `lnob dbt build -s marts`)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_dbt)

    p = sub.add_parser("demo", help="one night end to end on sample data, then the summary")
    p.add_argument("--date", default=os.environ.get("LNOB_DEMO_DATE", "2026-11-21"))
    p.add_argument("--persons", type=int, default=int(os.environ.get("LNOB_DEMO_PERSONS", "20000")))
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("summary", help="print the last run summary")
    p.set_defaults(func=_cmd_summary)

    args = parser.parse_args(argv)
    from lnob.platform.config import ConfigurationError
    from lnob.platform.warehouse import WarehouseError

    try:
        return args.func(args)
    except (WarehouseError, ConfigurationError) as exc:  # the user's to fix: one line, no traceback
        print(f"lnob {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
