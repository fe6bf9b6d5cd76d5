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


def test_the_kind_of_error_decides_whether_a_task_is_retried():
    """A ``NotRetryable`` error (a refused token, an invalid registry, a failed gate) fails its task
    at once; a ``Retryable`` one (an API down after the connector's own tries, a warehouse
    restarting) and any other error go on to Airflow, which retries the task."""
    import importlib.util

    from airflow.sdk.exceptions import AirflowFailException
    from lnob import pipeline
    from lnob.ingest import connectors
    from lnob.platform import errors, warehouse
    from lnob.platform.config import ConfigurationError
    from lnob.quality import isolation
    from lnob.registry import RegistryError

    spec = importlib.util.spec_from_file_location("lnob_nightly_dag", DAGS / "lnob_nightly.py")
    dag_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_file)

    refused = [
        connectors.RequestRefused("brac_uhc_survey (brac_bangladesh): 401 Unauthorized"),
        ConfigurationError("LNOB_PSEUDONYM_KEY is not set"),
        RegistryError(Path("registry.yml"), ["sources[0].id: missing"]),
        pipeline.GateFailed("mart gate failed"),
        isolation.SourceBlocked("blocked"),
    ]
    for exc in refused:
        assert isinstance(exc, errors.NotRetryable)
        with pytest.raises(AirflowFailException) as failed, dag_file._fail_fast():
            raise exc
        assert str(failed.value) == str(exc)
    for exc in (
        connectors.ApiUnavailable("503 three times"),
        warehouse.WarehouseError("down"),
        KeyError("a bug"),
    ):
        assert not isinstance(exc, errors.NotRetryable)
        with pytest.raises(type(exc)), dag_file._fail_fast():
            raise exc
    assert isinstance(connectors.ApiUnavailable("x"), errors.Retryable)
    # what caught the built-in bases still does
    assert isinstance(connectors.RequestRefused("x"), connectors.ConnectorError)
    assert isinstance(RegistryError(Path("r"), []), ValueError)
