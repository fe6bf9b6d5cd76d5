"""A night triggered where the pseudonymisation key is missing (a trigger from the Airflow UI on a
deployment without the secret): it fails at once, before anything is loaded, and the cause is the
first error line of the task log and the first problem of the summary and the HTML report, not
only "Incomplete"."""

from __future__ import annotations

import html
import re

import pytest
from helpers import lnob
from lnob import pipeline

pytestmark = pytest.mark.integration

NIGHT = "2026-11-19"


def test_missing_pseudonym_key_fails_fast_with_its_cause(warehouse_url):
    run = lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        NIGHT,
        timeout=900,
        env={"LNOB_PSEUDONYM_KEY": "", "LNOB_TASK_RETRIES": "0"},
    )
    assert run.returncode != 0
    out = run.stdout + run.stderr
    # the first error line of the night is the cause, named by task
    first_error = next(line for line in out.splitlines() if "[error" in line)
    assert "extract failed" in first_error and "LNOB_PSEUDONYM_KEY is not set" in first_error, first_error
    # nothing was loaded or built: load, transform and publish never ran
    s = pipeline.latest_summary()
    assert s["night"] == NIGHT and not s["complete"]
    assert s["problems"][0].startswith("LNOB_PSEUDONYM_KEY is not set"), s["problems"]
    assert not s["sources"] and "transform" not in s["stages_logged"] and not s["published_tonight"]
    for task in ("load_raw", "transform", "publish"):
        assert not re.search(rf"\[DAG TEST\] starting task_id={task} ", out), task
    # the run report leads with the cause
    page = html.unescape(open(s["report_html"], encoding="utf-8").read())
    assert "LNOB_PSEUDONYM_KEY is not set" in page


@pytest.mark.unit
def test_the_cause_of_a_failure_is_one_line():
    """What a failing task logs first: a dbt failure by its first failing node, a message whose
    first line only introduces the cause joined to the line that gives it."""
    import importlib.util

    from helpers import PROJECT
    from lnob.pipeline import GateFailed
    from lnob.transform.runner import DbtError

    spec = importlib.util.spec_from_file_location("lnob_nightly_dag", PROJECT / "dags" / "lnob_nightly.py")
    dag_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_module)
    failures = [
        {"node": "model.lnob.fct_sdg_observation", "status": "error", "message": "division by zero"},
        {"node": "test.lnob.unique_x", "status": "fail", "message": "Got 2 results"},
    ]
    dbt = DbtError(
        "dbt build --select tag:marts failed:\n  model.lnob.fct_sdg_observation: error: ...", failures
    )
    assert dag_module._first_line(dbt) == (
        "DbtError: model.lnob.fct_sdg_observation: error: division by zero (and 1 more)"
    )
    gate = GateFailed(
        "mart gate failed; publication skipped, marts unchanged:\n"
        "marts: FAILED 1 of 103 expectations\n  - audit__fct_lnob_gap: ..."
    )
    assert dag_module._first_line(gate) == (
        "GateFailed: mart gate failed; publication skipped, marts unchanged: "
        "marts: FAILED 1 of 103 expectations"
    )
    assert "\n" not in dag_module._first_line(RuntimeError("one\ntwo"))
