"""The committed Great Expectations context is what `lnob gates scaffold` writes from the committed
registry and seeds: every suite checks what its Python builder builds (by the signature the gates
compare, type and kwargs, without the ids and metadata GX adds, and with the same descriptions),
no suite is orphaned or missing, and the query assets and checkpoints are the scaffold's. No
warehouse: the builders read only the registry and the seeds.

When this fails after a change to a contract, a codelist seed or a gate, run `lnob gates scaffold`
against a warehouse with the raw and audit tables and commit the rewritten files."""

import json
from pathlib import Path

import pytest
import yaml
from lnob.platform.config import AUDIT_SCHEMA, META_SCHEMA, RAW_SCHEMA, settings
from lnob.quality import gates
from lnob.registry import load

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
GX = ROOT / "expectations" / "gx"
PERSONS_SUITE = f"persons__{gates.PERSONS_TABLE[1]}"
RERUN = "stale committed GX context: run `lnob gates scaffold` and commit expectations/gx"


@pytest.fixture(scope="module")
def committed_inputs():
    """The settings and registry of the committed tree (not the session's copies, which a night
    or a test with its own registry may rewrite)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LNOB_DBT_PROJECT_DIR", str(ROOT / "dbt_project"))
        mp.delenv("LNOB_REGISTRY", raising=False)
        cfg = settings()
        assert cfg.dbt_project_dir == ROOT / "dbt_project"
        yield cfg, load()


@pytest.fixture(scope="module")
def builders(committed_inputs) -> dict[str, list]:
    """Suite name -> the expectations `lnob gates scaffold` writes into it."""
    cfg, registry = committed_inputs
    out = {f"raw__{source_id}": gates.raw_expectations(registry, source_id) for source_id in registry.sources}
    out[PERSONS_SUITE] = gates.persons_expectations(cfg)
    out |= {f"marts__{table}": gates.mart_expectations(cfg, table) for table in gates.MART_TABLES}
    return out


def _committed_suites() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (GX / "expectations").glob("*.json")}


def _json_signature(suite: dict) -> list[tuple[str, str]]:
    """`gates._signature` of a stored suite, read from its JSON."""
    return sorted(
        (e["type"], json.dumps(e["kwargs"], sort_keys=True, default=str)) for e in suite["expectations"]
    )


def _assets() -> dict[str, dict]:
    context = yaml.safe_load((GX / "great_expectations.yml").read_text(encoding="utf-8"))
    return context["fluent_datasources"][gates.DATASOURCE]["assets"]


def test_no_committed_suite_is_orphaned_or_missing(builders):
    committed = set(_committed_suites())
    assert committed - set(builders) == set(), f"orphaned suites (no builder writes them): {RERUN}"
    assert set(builders) - committed == set(), f"missing suites: {RERUN}"
    assert len(builders) == len(load().sources) + 1 + len(gates.MART_TABLES)


def test_every_committed_suite_checks_what_its_builder_builds(builders):
    for name, suite in sorted(_committed_suites().items()):
        assert suite["name"] == name
        assert _json_signature(suite) == gates._signature(builders[name]), f"{name}: {RERUN}"
        # the scaffold writes the descriptions too (the gate's failure messages show them)
        assert sorted(e.get("description") or "" for e in suite["expectations"]) == sorted(
            e.description or "" for e in builders[name]
        ), f"{name} descriptions: {RERUN}"


def test_the_json_signature_is_the_gates_signature(builders):
    """The comparison above is sound: a GX suite built from the committed JSON has the signature
    read from the JSON, so ids and metadata are the only things left out."""
    import great_expectations as gx

    suite = _committed_suites()[PERSONS_SUITE]
    loaded = gx.ExpectationSuite(**{k: suite[k] for k in ("name", "expectations")})
    assert gates._signature(loaded.expectations) == _json_signature(suite)
    assert any("$PARAMETER" in key for _, key in _json_signature(_committed_suites()["marts__fct_voices"]))


def test_the_query_assets_select_what_the_gates_query(committed_inputs):
    cfg, registry = committed_inputs
    assets = _assets()
    changed = assets[gates.PERSONS_CHANGED]
    assert changed["type"] == "query"
    assert changed["query"] == gates.persons_changed_query(cfg), f"{gates.PERSONS_CHANGED}: {RERUN}"
    assert f"{META_SCHEMA}.persons_gate" in changed["query"]
    for source_id in registry.sources:
        pending = assets[gates.pending_name(source_id)]
        assert pending["type"] == "query"
        assert pending["query"] == gates.pending_query(registry, source_id), f"{source_id}: {RERUN}"


def test_the_table_assets_and_checkpoints_are_the_scaffolds(committed_inputs):
    _, registry = committed_inputs
    assets = _assets()
    expected = {f"raw__{s}": (RAW_SCHEMA, registry.source(s).raw_table) for s in registry.sources}
    expected |= {f"audit__{t}": (AUDIT_SCHEMA, t) for t in gates.MART_TABLES}
    tables = {name: (a["schema_name"], a["table_name"]) for name, a in assets.items() if a["type"] == "table"}
    assert tables == expected, RERUN
    queries = {name for name, a in assets.items() if a["type"] == "query"}
    assert queries == {gates.PERSONS_CHANGED} | {gates.pending_name(s) for s in registry.sources}, RERUN

    checkpoints = {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (GX / "checkpoints").glob("*.json")
    }
    raw = {f"raw__{s}" for s in registry.sources} | {gates.pending_name(s) for s in registry.sources}
    assert set(checkpoints) == raw | {"marts", "marts_counts"}, RERUN
    # no Data Docs action on any checkpoint: the gate builds the site once a night
    assert all(c["actions"] == [] for c in checkpoints.values()), RERUN
    for name in raw:
        assert [v["name"] for v in checkpoints[name]["validation_definitions"]] == [name]
    marts = [PERSONS_SUITE] + [f"marts__{t}" for t in gates.MART_TABLES]
    for name in ("marts", "marts_counts"):
        assert [v["name"] for v in checkpoints[name]["validation_definitions"]] == marts, RERUN
    definitions = {p.stem for p in (GX / "validation_definitions").glob("*.json")}
    assert definitions == raw | set(marts), RERUN
