"""A night triggered where the pseudonymisation key is missing (a trigger from the Airflow UI on a
deployment without the secret): it fails at once, before anything is loaded, and the cause is the
first error line of the task log and the first problem of the summary and the HTML report, not
only "Incomplete"."""

from __future__ import annotations

import html
import re

import pytest
from conftest import lnob
from lnob import pipeline

pytestmark = pytest.mark.integration

NIGHT = "2026-11-19"


def test_missing_pseudonym_key_fails_fast_with_its_cause(warehouse_url):
    run = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=900,
               env={"LNOB_PSEUDONYM_KEY": "", "LNOB_TASK_RETRIES": "0"})
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
