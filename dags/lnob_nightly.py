"""The nightly pipeline of the Leave No One Behind data platform.

This file holds the DAG only: no work at import time; each task calls a stage in ``lnob.pipeline``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.definitions.context import Context
from lnob.airflow.alerts import FailureAlert
from lnob.publish.assets import event_extra, mart_assets

log = logging.getLogger("lnob.nightly")

#: Every published mart, an Airflow Asset (the Assets page; downstream DAGs schedule on them).
MARTS = mart_assets()

DOC = """
### LNOB nightly pipeline

Partner deliveries in, SDG marts disaggregated by marginalised group out; only data that passed
every gate reaches the `marts` schema that BI tools read.

1. **api_sources / fetch_api**: the registry is validated first (an invalid one fails the run at
   once, naming the file and key path); then one mapped task per API source with a configured
   Airflow connection (KoboToolbox, ODK Central, UN SDG API) fetches its new records as pages into
   the landing folder. A source whose API fails fails alone.
2. **extract**: new deliveries in the landing folder `<partner_id>/<YYYY-MM-DD>/` (up to the night),
   grouped by source.
3. **load_raw**: one mapped task per source, named after it; each of its deliveries (file or API
   page) is COPYed into `raw.<source>` with lineage in its own transaction, or quarantined alone.
4. **gate_raw**: one mapped task per source: Great Expectations once over all its deliveries not
   gated yet; a delivery that fails is quarantined (or blocks the night, per the source's
   `gate_policy`) and the others pass.
5. **transform**: the testimony review queue is refreshed (only approved testimonies publish);
   dbt builds staging, which is checked per delivery (unmapped codes, codes outside their SDMX
   codelist, keys delivered twice, unknown breakdown columns, failing staging tests): a delivery
   with a problem is **held back** (quarantined with its reason) and the others go on, or the
   night stops when its source says `gate_policy: block`; then intermediate and the marts into
   the audit schema `marts_audit`.
6. **gate_marts**: dbt mart tests (a failure pinned to one partner's rows of tonight holds that
   partner back and rebuilds), the GX mart suites and the disclosure audit (linear programming
   over everything published) on `marts_audit`; failure stops here.
7. **publish**: `marts_audit` swapped into `marts` in one transaction (`marts_previous` kept).
   Each published mart is an asset (`marts.<table>`, group `lnob_marts`); the night's asset event
   carries its row count, so a downstream DAG can be scheduled on the marts.
8. **export**: SDMX-CSV and CSV of every published mart, read back and checked.
9. **report**: the run summary (`data/reports/<night>/summary.txt`) and the HTML run report
   (`data/reports/<night>/report.html`: gates, counts, quarantines, freshness, LNOB gap charts);
   fails the run if any stage failed.

Warehouse: Airflow connection `lnob_warehouse`. Owner: the partnership's data team.
Alerts: a task that fails for good sends the DAG, run, task, error and log link to the chat
webhook `lnob_alert_webhook` and/or by e-mail through `lnob_alert_smtp`, when those connections
exist (off otherwise).
"""


def _url() -> str:
    from airflow.sdk import BaseHook
    from lnob.platform.warehouse import ConnInfo

    conn = BaseHook.get_connection("lnob_warehouse")
    return ConnInfo(
        conn.host,
        int(conn.port or 5432),
        conn.login or "postgres",
        conn.password or "",
        conn.schema or "postgres",
    ).url()


def _endpoint(conn_id: str):
    """An API source's Airflow connection as a connector endpoint, or None when not configured.
    Host (with scheme, or scheme in the connection's schema field), then a token in the password
    (KoboToolbox, ODK Central) or login and password (ODK Central basic auth)."""
    from airflow.sdk import BaseHook
    from lnob.ingest.connectors import Endpoint

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException: the source relies on file drops
        return None
    host = conn.host or ""
    base = (
        host
        if "://" in host
        else f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
    )
    if conn.login:
        return Endpoint(base, login=conn.login, password=conn.password)
    return Endpoint(base, token=conn.password)


def _night(context: Context):
    """The night a run processes: its logical date; a run triggered without one (Airflow 3's
    default for a trigger from the UI or ``airflow dags trigger``) processes the night it ran after."""
    logical = context.get("logical_date")
    return (logical or context["dag_run"].run_after).date()


def _run_id(context: Context) -> str:
    return context["run_id"]


def _first_line(exc: BaseException) -> str:
    """The cause in one line: a message's first line, joined to its second when the first only
    introduces it (``... failed:``); a dbt failure by its first failing node."""
    failures = getattr(exc, "failures", None) or getattr(exc.__cause__, "failures", None)
    if failures:
        f = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"{type(exc).__name__}: {f.get('node')}: {f.get('status')}: {f.get('message')}{more}"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or ["(no message)"]
    first = lines[0] + (" " + lines[1] if lines[0].endswith(":") and len(lines) > 1 else "")
    return f"{type(exc).__name__}: {first}"


@contextmanager
def _fail_fast() -> Iterator[None]:
    """A failure that will not fix itself in five minutes (:class:`lnob.platform.errors.NotRetryable`: an
    invalid registry, a missing secret, credentials an API refuses, a failed gate) fails the task
    at once, with its message, instead of being retried; any other failure gets the task's
    retries. The cause is the first error line of the task log, before Airflow's traceback (see
    :func:`_cause_first`)."""
    from airflow.sdk.exceptions import AirflowFailException
    from lnob.platform.errors import NotRetryable

    with _cause_first():
        try:
            yield
        except NotRetryable as exc:
            raise AirflowFailException(str(exc)) from exc


@contextmanager
def _cause_first() -> Iterator[None]:
    """Log why a stage failed as one error line, with the rest of its message below it, before
    Airflow writes the traceback: the task log's first error line is the cause."""
    try:
        yield
    except Exception as exc:
        try:
            task_id = get_current_context()["ti"].task_id
        except RuntimeError:  # called outside a task (a test): still log the cause
            task_id = "the task"
        log.error("%s failed: %s", task_id, _first_line(exc))
        rest = str(exc).strip().splitlines()[1:]
        if rest:
            log.error("\n".join(rest[:40]))
        raise


@dag(
    dag_id="lnob_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC,
    tags=["lnob", "nightly", "sdg"],
    default_args={
        "owner": "lnob-data-team",
        # Transient failures (a warehouse restart) are retried; `lnob demo` and the tests set
        # LNOB_TASK_RETRIES=0 so that a failure shows at once.
        "retries": int(os.environ.get("LNOB_TASK_RETRIES", "2")),
        # seconds; the Celery scale-out test retries a task whose worker it killed after a few
        "retry_delay": timedelta(seconds=int(os.environ.get("LNOB_TASK_RETRY_DELAY", "300"))),
        "retry_exponential_backoff": True,
        # after the last try only; nothing is sent unless an alert connection is configured
        "on_failure_callback": FailureAlert(),
    },
)
def lnob_nightly():
    @task
    def api_sources() -> list[str]:
        from lnob import pipeline

        with _fail_fast():  # the registry is validated first of all
            return pipeline.api_sources(_endpoint)

    @task(max_active_tis_per_dag=4)
    def fetch_api(source_id: str) -> dict:
        from lnob import pipeline

        ctx = get_current_context()
        with _fail_fast():  # a refused token is not tried again five minutes later
            endpoint = _endpoint(pipeline.registry.load().source(source_id).connection)
            return pipeline.fetch_source(_url(), _run_id(ctx), _night(ctx), source_id, endpoint)

    @task(trigger_rule="all_done")  # a partner whose API failed does not hold the others back
    def extract() -> list[dict]:
        from lnob import pipeline

        ctx = get_current_context()
        with _fail_fast():
            return pipeline.extract_sources(_url(), _run_id(ctx), _night(ctx))

    # One mapped instance per source (not per file or API page), named after it in the UI.
    @task(map_index_template="{{ lnob_source }}")
    def load_raw(batch: dict) -> dict:
        from lnob import pipeline

        ctx = get_current_context()
        ctx["lnob_source"] = pipeline.label(batch)
        with _fail_fast():
            return pipeline.load_source(_url(), _run_id(ctx), batch)

    @task(map_index_template="{{ lnob_source }}")
    def gate_raw(loaded: dict) -> dict:
        from lnob import pipeline

        ctx = get_current_context()
        ctx["lnob_source"] = pipeline.label(loaded)
        with _fail_fast():
            return pipeline.gate_source(_url(), _run_id(ctx), loaded)

    @task(trigger_rule="none_failed")
    def transform() -> dict:
        from lnob import pipeline

        with _fail_fast():
            return pipeline.transform_stage(_url(), _run_id(get_current_context()))

    @task  # a failed gate (GateFailed) is not retried; a dropped connection is
    def gate_marts() -> dict:
        from lnob import pipeline

        with _fail_fast():
            return pipeline.gate_marts(_url(), _run_id(get_current_context()))

    @task(outlets=MARTS)
    def publish() -> dict:
        from lnob import pipeline

        ctx = get_current_context()
        with _fail_fast():
            counts = pipeline.publish_stage(_url(), _run_id(ctx))
        for asset in MARTS:  # the night's row counts on each mart's asset event
            ctx["outlet_events"][asset].extra = event_extra(
                asset.extra["table"], counts, _night(ctx).isoformat(), _run_id(ctx)
            )
        unknown = sorted(set(counts) - {a.extra["table"] for a in MARTS})
        if unknown:
            log.warning(
                "published tables that are no asset (not a model of dbt_project/models/marts): %s",
                ", ".join(unknown),
            )
        return counts

    @task
    def export() -> dict:
        from lnob import pipeline

        ctx = get_current_context()
        with _fail_fast():
            return pipeline.export_stage(_url(), _run_id(ctx), _night(ctx))

    @task(trigger_rule="all_done", retries=0)
    def report() -> None:
        from airflow.sdk.exceptions import AirflowFailException
        from lnob import pipeline

        ctx = get_current_context()
        with _cause_first():
            summary = pipeline.report_stage(_url(), _run_id(ctx), _night(ctx))
        if not summary["complete"]:
            log.error("the night did not complete: %s", (summary["problems"] or ["?"])[0])
            raise AirflowFailException(
                "the night did not complete: "
                + "; ".join(summary["problems"])
                + f". Summary: {summary['report_path']}"
            )

    fetched = fetch_api.expand(source_id=api_sources())
    deliveries = extract()
    fetched >> deliveries
    loaded = load_raw.expand(batch=deliveries)
    gated = gate_raw.expand(loaded=loaded)
    built = transform()
    gated >> built
    checked = gate_marts()
    published = publish()
    exported = export()
    built >> checked >> published >> exported >> report()


lnob_nightly()
