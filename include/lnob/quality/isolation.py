"""One partner's problem is that partner's alone: find what a source broke, hold it back, go on.

After staging is built, every staging model is checked per delivery, in the warehouse:

- a code the registry does not map (``recode()`` leaves ``UNMAPPED:<spelling>``), in any column;
- for official observations, a code outside its SDMX codelist (the same codelists the mart tests
  read from ``_sdg__models.yml``, so the rule has one owner), an observation key delivered twice
  in one delivery (a breakdown column nobody mapped would otherwise be merged into the total by
  ``int_official_observations``), and a column the contract does not know that carries values
  (kept in ``_overflow`` by the loader: an unmapped breakdown);
- a staging model dbt could not build, or a staging test that failed.

Each problem belongs to one source (the staging model's dbt ``source()``) and, where the failing
rows say so, to the deliveries that carry it. Those deliveries are taken back out of raw and
quarantined with a reason naming partner, source, column, check and the offending codes with their
counts (codes, never values of identifier or free-text fields), so the rest of the night builds and
publishes without them. The registry's ``gate_policy`` decides per source: ``quarantine`` (the
default) holds the source's deliveries back, ``block`` stops the night.

A problem that cannot be pinned to a delivery of tonight (a registry change broke data published
earlier) stops the night, with the cause named: holding back data that is already published
would silently change the marts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from lnob.ingest.landing import safe_name
from lnob.platform.config import META_SCHEMA, RAW_SCHEMA, STAGING_SCHEMA, Settings, settings
from lnob.platform.errors import NotRetryable
from lnob.quality.gates import SDMX_DIMENSIONS
from lnob.registry import Registry, vocabulary
from lnob.transform import masking

log = logging.getLogger(__name__)

#: How many offending codes (with counts) a reason lists per column.
MAX_VALUES = 10
#: Longest code shown verbatim in a reason (a partner could put anything in a coded column).
MAX_CODE_CHARS = 20
#: The DSD key of an observation (sixteen dimensions), named once in lnob.quality.gates.
KEY = SDMX_DIMENSIONS


class SourceBlocked(NotRetryable, RuntimeError):
    """A problem stops the night: a source with ``gate_policy: block``, or one that cannot be held
    back (nothing of tonight carries it). The message names source, check, column and codes."""


@dataclass
class Problem:
    """What one check found wrong in one source's staged data."""

    source_id: str
    check: str  # unmapped_code | not_in_codelist | duplicate_key | unmapped_column | dbt_model | dbt_test
    column: str | None
    message: str
    values: list[dict] = field(default_factory=list)  # [{"value": code, "rows": n}], bounded
    delivery_ids: list[int] | None = None  # None: every delivery of the source loaded tonight

    def describe(self) -> str:
        codes = ", ".join(f"{v['value']!r} x{v['rows']}" for v in self.values)
        where = f" column {self.column}" if self.column else ""
        return f"{self.source_id}:{where} {self.check}: {self.message}" + (f" [{codes}]" if codes else "")


def _bounded(value) -> str:
    """A code as a reason may show it: one token of at most ``MAX_CODE_CHARS`` characters verbatim
    (codes are often digits: "2" for female), anything longer or of several words by its shape only
    (a partner could type a name into a coded column)."""
    text = "" if value is None else str(value)
    prefix = "UNMAPPED:" if text.startswith("UNMAPPED:") else ""
    code = text[len(prefix) :]
    if len(code) <= MAX_CODE_CHARS and not any(ch.isspace() for ch in code) and code.isprintable():
        return prefix + code
    return prefix + masking.shape(code)


def _message(value) -> str:
    """A message or a failing-row sample (already without personal columns), bounded and safe."""
    return safe_name("" if value is None else value, 300)


# --------------------------------------------------------------------------------------------
# Which staging model stages which source (from dbt's manifest: one owner, dbt itself)
# --------------------------------------------------------------------------------------------


def manifest(cfg: Settings) -> dict:
    path = cfg.home / "dbt" / "target" / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {"nodes": {}}


def staging_models(man: dict) -> dict[str, dict]:
    """Staging model unique_id -> {"name", "relation", "source_id"} for models reading one raw source."""
    out = {}
    for uid, node in man.get("nodes", {}).items():
        if node.get("resource_type") != "model" or "staging" not in node.get("tags", []):
            continue
        raw = [
            d.split(".")[-1]
            for d in node.get("depends_on", {}).get("nodes", [])
            if d.startswith("source.") and ".raw." in d
        ]
        if len(raw) == 1:
            out[uid] = {
                "name": node["name"],
                "relation": f'{STAGING_SCHEMA}."{node["name"]}"',
                "source_id": raw[0],
            }
    return out


def official_codelists(cfg: Settings) -> dict[str, str]:
    """column -> codelist of the published observations, read from the mart's own tests."""
    doc = yaml.safe_load((cfg.dbt_project_dir / "models" / "marts" / "sdg" / "_sdg__models.yml").read_text())
    model = next(m for m in doc["models"] if m["name"] == "fct_sdg_observation")
    out = {}
    for col in model["columns"]:
        for t in col.get("data_tests", []):
            if isinstance(t, dict) and "in_codelist" in t:
                args = t["in_codelist"].get("arguments", t["in_codelist"])
                out[col["name"]] = args["codelist"]
    return out


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def _columns(cur, relation_name: str) -> dict[str, str]:
    cur.execute(
        """select column_name, data_type from information_schema.columns
                   where table_schema = %s and table_name = %s""",
        (STAGING_SCHEMA, relation_name),
    )
    return dict(cur.fetchall())


def _grouped(rows, source_id: str, check: str, message: str) -> list[Problem]:
    """(delivery_id, column, value, n) rows -> one Problem per column, deliveries and codes listed."""
    by_column: dict[str, Problem] = {}
    for delivery_id, column, value, n in rows:
        p = by_column.setdefault(column, Problem(source_id, check, column, message, [], []))
        delivery_ids = p.delivery_ids
        assert delivery_ids is not None  # every Problem here is made with a list
        if delivery_id not in delivery_ids:
            delivery_ids.append(delivery_id)
        seen = next((v for v in p.values if v["value"] == _bounded(value)), None)
        if seen:
            seen["rows"] += n
        elif len(p.values) < MAX_VALUES:
            p.values.append({"value": _bounded(value), "rows": n})
    return list(by_column.values())


def unmapped_codes(cur, model: dict) -> list[Problem]:
    cols = [c for c, t in _columns(cur, model["name"]).items() if t == "text"]
    if not cols:
        return []
    pairs = ", ".join(f"('{c}', \"{c}\")" for c in cols)
    # rows without an unmapped code (nearly all) are passed over before the lateral list of columns
    any_unmapped = " or ".join(f"\"{c}\" like 'UNMAPPED:%%'" for c in cols)
    cur.execute(f"""select delivery_id, c.col, c.val, count(*)
                    from (select * from {model["relation"]} where {any_unmapped}) as r
                    cross join lateral (values {pairs}) as c(col, val)
                    where c.val like 'UNMAPPED:%%'
                    group by 1, 2, 3 order by 2, 4 desc""")
    return _grouped(
        cur.fetchall(), model["source_id"], "unmapped_code", "spellings the registry's code map does not know"
    )


#: The extended SDMX codelists (dbt model stg_reference__sdmx_codelist, built with staging): the one
#: owner of what a valid code is, read here as dbt's in_codelist test and the mart gate read it.
CODELIST_RELATION = f"{STAGING_SCHEMA}.stg_reference__sdmx_codelist"


def _codes_cte() -> str:
    return f"codes as (select codelist_id, code from {CODELIST_RELATION})"


def codes_outside_codelists(cur, model: dict, codelists: dict[str, str]) -> list[Problem]:
    present = _columns(cur, model["name"])
    pairs = [(c, cl) for c, cl in codelists.items() if c in present]
    if not pairs:
        return []
    values = ", ".join(f"('{c}', '{cl}', \"{c}\"::text)" for c, cl in pairs)
    cur.execute(f"""with {_codes_cte()}
                    select delivery_id, c.col, c.val, count(*)
                    from {model["relation"]} cross join lateral (values {values}) as c(col, codelist, val)
                    where c.val is not null and c.val not like 'UNMAPPED:%%'
                      and not exists (select 1 from codes where codes.codelist_id = c.codelist
                                                            and codes.code = c.val)
                    group by 1, 2, 3 order by 2, 4 desc""")
    return _grouped(
        cur.fetchall(),
        model["source_id"],
        "not_in_codelist",
        "codes outside their SDMX codelist (map them in the registry or extend the codelist)",
    )


def duplicate_keys(cur, model: dict) -> list[Problem]:
    """Two rows of one delivery with the same observation key: something that tells them apart
    (a breakdown column the registry does not map) was lost, and one would replace the other."""
    present = _columns(cur, model["name"])
    if not all(k in present for k in KEY):
        return []
    keys = ", ".join(KEY)
    cur.execute(f"""select delivery_id, count(*) as keys, sum(n) as rows,
                           min(series || ' ' || ref_area || ' ' || time_period) as example
                    from (select delivery_id, {keys}, count(*) as n from {model["relation"]}
                          group by delivery_id, {keys} having count(*) > 1) as d
                    group by delivery_id""")
    out = []
    for delivery_id, n_keys, n_rows, example in cur.fetchall():
        out.append(
            Problem(
                model["source_id"],
                "duplicate_key",
                None,
                f"{n_keys} observation keys occur more than once in one delivery ({n_rows} rows, e.g. "
                f"{_message(example)}): a breakdown column is not mapped, and its rows would be merged "
                "into one value",
                [],
                [delivery_id],
            )
        )
    return out


def unmapped_columns(cur, reg: Registry, source_id: str) -> list[Problem]:
    """Columns of an observation delivery that the contract does not know and that carry values:
    breakdowns nobody mapped (the loader keeps them in ``_overflow``)."""
    src = reg.source(source_id)
    if src.entity != "observation":
        return []
    metadata = list(src.format.get("metadata_fields", []))
    # An Open SDG file's disaggregation columns are read through the registry's vocabulary: only
    # a column the vocabulary does not know is unmapped.
    known = sorted(vocabulary.known_columns(src.vocabulary, src.series)) if src.type == "open_sdg_csv" else []
    cur.execute(
        f"""select r._delivery_id, e.key, 'column present with values', count(*)
                    from {RAW_SCHEMA}."{src.raw_table}" as r
                    cross join lateral jsonb_each_text(r._overflow) as e(key, value)
                    join {META_SCHEMA}.delivery_ledger as l
                      on l.delivery_id = r._delivery_id and l.status = 'loaded'
                    where r._overflow is not null and nullif(trim(e.value), '') is not null
                      and not e.key = any(%s) and not lower(trim(e.key)) = any(%s)
                    group by 1, 2""",
        (metadata, known),
    )
    rows = cur.fetchall()
    problems = _grouped(
        rows,
        source_id,
        "unmapped_column",
        "a column the registry's contract does not declare carries values "
        "(a breakdown would be merged into the total): declare and map it",
    )
    for p in problems:
        p.values = []  # the column is the finding; its values are the partner's
    return problems


def dbt_failures(results: list[dict], man: dict, models: dict[str, dict]) -> list[Problem]:
    """Staging nodes dbt could not build, and staging tests that failed, as per-source problems."""
    out = []
    nodes = man.get("nodes", {})
    for r in results:
        if r["status"] not in ("error", "fail", "runtime error"):
            continue
        uid = r["node"]
        if uid in models:
            out.append(
                Problem(
                    models[uid]["source_id"],
                    "dbt_model",
                    None,
                    f"{models[uid]['name']} did not build: {_message(r.get('message'))}",
                )
            )
            continue
        node = nodes.get(uid, {})
        if node.get("resource_type") != "test":
            continue
        targets = [d for d in node.get("depends_on", {}).get("nodes", []) if d in models]
        column = node.get("column_name") or ", ".join(r.get("failing_columns") or []) or None
        for t in targets[:1]:
            out.append(
                Problem(
                    models[t]["source_id"],
                    "dbt_test",
                    column,
                    f"{node.get('name', uid)} failed on {models[t]['name']}: {_message(r.get('message'))}",
                    [{"value": _message(s), "rows": 1} for s in r.get("sample", [])[:MAX_VALUES]],
                )
            )
    return out


def staging_problems(conn, reg: Registry, results: list[dict], cfg: Settings | None = None) -> list[Problem]:
    """Every per-source problem of the staged data (see the module docstring)."""
    cfg = cfg or settings()
    man = manifest(cfg)
    models = staging_models(man)
    problems = dbt_failures(results, man, models)
    broken = {p.source_id for p in problems if p.check == "dbt_model"}
    codelists = official_codelists(cfg)
    with conn.cursor() as cur:
        cur.execute(
            "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s",
            (STAGING_SCHEMA,),
        )
        built = {r[0] for r in cur.fetchall()}
        for model in models.values():
            if model["source_id"] in broken or model["name"] not in built:
                continue
            problems += unmapped_codes(cur, model)
            if reg.sources.get(model["source_id"]) and reg.source(model["source_id"]).entity == "observation":
                problems += codes_outside_codelists(cur, model, codelists)
                problems += duplicate_keys(cur, model)
        for source_id in sorted({m["source_id"] for m in models.values()}):
            if source_id in reg.sources:
                problems += unmapped_columns(cur, reg, source_id)
    conn.rollback()
    return problems


# --------------------------------------------------------------------------------------------
# Hold back
# --------------------------------------------------------------------------------------------


@dataclass
class HeldBack:
    source_id: str
    partner_id: str
    delivery_id: int
    file_name: str
    delivery_date: str
    quarantine_path: str
    problems: list[dict]


def _loaded_tonight(cur, source_id: str, run_id: str) -> list[int]:
    cur.execute(
        f"""select delivery_id from {META_SCHEMA}.delivery_ledger
                    where source_id = %s and status = 'loaded' and run_id = %s""",
        (source_id, run_id),
    )
    return [r[0] for r in cur.fetchall()]


def hold_back(
    conn, reg: Registry, problems: list[Problem], run_id: str, cfg: Settings | None = None
) -> list[HeldBack]:
    """Quarantine the deliveries that carry each problem (see the module docstring); raise
    :class:`SourceBlocked` for a ``block`` source or a problem nothing of tonight carries."""
    from lnob.ingest import load

    cfg = cfg or settings()
    by_source: dict[str, list[Problem]] = {}
    for p in problems:
        by_source.setdefault(p.source_id, []).append(p)
    blocking = []
    targets: dict[int, list[Problem]] = {}
    with conn.cursor() as cur:
        for source_id, found in sorted(by_source.items()):
            src = reg.source(source_id)
            if src.gate_policy == "block":
                blocking += [f"{p.describe()} (gate_policy: block)" for p in found]
                continue
            tonight = set(_loaded_tonight(cur, source_id, run_id))
            cur.execute(
                f"select delivery_id from {META_SCHEMA}.delivery_ledger "
                "where source_id = %s and status = 'loaded'",
                (source_id,),
            )
            loaded = {r[0] for r in cur.fetchall()}
            for p in found:
                ids = (set(p.delivery_ids) & loaded) if p.delivery_ids is not None else tonight
                if not ids or not ids <= tonight:
                    blocking.append(
                        f"{p.describe()} (in data published before tonight: cannot be "
                        "held back without changing the marts; fix the registry or "
                        "`lnob delivery unload` the delivery)"
                    )
                    continue
                for i in ids:
                    targets.setdefault(i, []).append(p)
    conn.rollback()
    if blocking:
        raise SourceBlocked("the night stops:\n  " + "\n  ".join(blocking))
    held = []
    for delivery_id, found in sorted(targets.items()):
        with conn.cursor() as cur:
            cur.execute(
                f"""select source_id, partner_id, file_name, delivery_date
                            from {META_SCHEMA}.delivery_ledger where delivery_id = %s""",
                (delivery_id,),
            )
            source_id, partner_id, file_name, ddate = cur.fetchone()
        conn.rollback()
        reason = {
            "partner": partner_id,
            "source": source_id,
            "kind": "held_back",
            "stage": "staging",
            "file": file_name,
            "delivery_date": ddate.isoformat(),
            "problems": [_reason_of(p) for p in found],
        }
        target = load.unload_delivery(
            conn,
            reg,
            delivery_id,
            reason,
            cfg,
            why="held back: " + "; ".join(p.check for p in found),
            run_id=run_id,
        )
        held.append(
            HeldBack(
                source_id, partner_id, delivery_id, file_name, ddate.isoformat(), target, reason["problems"]
            )
        )
        log.warning(
            "HELD BACK %s delivery %s (%s): %s",
            source_id,
            delivery_id,
            Path(file_name).name,
            "; ".join(p.describe() for p in found),
        )
    return held


def _reason_of(p: Problem) -> dict:
    d = asdict(p)
    d.pop("delivery_ids", None)
    return d


def mart_problems(conn, reg: Registry, failures: list[dict], run_id: str) -> list[Problem] | None:
    """Failing mart tests as problems of the sources that delivered tonight, when every failing
    row of every failing test names its partner (or source) and each such partner has a delivery
    loaded tonight; ``None`` when any failure cannot be pinned that way (the gate then stops the
    night, as it always did)."""
    out: list[Problem] = []
    with conn.cursor() as cur:
        for f in failures:
            who = f.get("attributed_to") or {}
            sources = set(who.get("source_id", []))
            for partner in who.get("partner_id", []):
                if partner not in reg.partners:
                    return None
                sources |= {s.id for s in reg.sources_of(partner)}
            tonight = {s for s in sources if s in reg.sources and _loaded_tonight(cur, s, run_id)}
            if not tonight:
                conn.rollback()
                return None
            for source_id in sorted(tonight):
                out.append(
                    Problem(
                        source_id,
                        "mart_test",
                        None,
                        f"{f['node'].split('.')[-1]}: {_message(f.get('message'))}",
                        [{"value": _message(x), "rows": 1} for x in f.get("sample", [])[:3]],
                    )
                )
    conn.rollback()
    return out
