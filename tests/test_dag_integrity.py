"""Every DAG imports without errors and carries what the team relies on."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "lnob_nightly" in dagbag.dag_ids


def test_every_dag_has_tags_owner_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} has no retries"


def test_nightly_shape(dagbag):
    dag = dagbag.dags["lnob_nightly"]
    assert dag.catchup is False
    assert str(dag.timezone) in ("UTC", "Timezone('UTC')") or dag.timezone.name == "UTC"
    stages = ["extract", "load_raw", "gate_raw", "transform", "gate_marts", "publish", "export"]
    assert set(stages) <= set(dag.task_ids)
    for upstream, downstream in zip(stages, stages[1:], strict=False):
        assert downstream in dag.get_task(upstream).downstream_task_ids, f"{upstream} -> {downstream}"
    # publication happens only when the mart gate succeeded
    assert dag.get_task("publish").trigger_rule == "all_success"
