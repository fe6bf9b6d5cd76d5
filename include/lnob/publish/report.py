"""The run report: one self-contained HTML page per run, an index of nights and runs, trends.

Every run of the nightly DAG writes its own page, ``data/reports/<night>/<run>/report.html`` (the
run id made safe for a file name): a re-run of a night is a new run with a page of its own, never
an overwrite. ``data/reports/<night>/report.html`` and ``data/reports/latest.html`` are the stable
pointers (the night's latest run, the latest run of all), and ``data/reports/index.html`` lists
every night and run with its outcome and counts, above the trend charts.

A page shows what the run did and whether the data can be trusted: the gates (each raw delivery
and the mart gate, with the failed expectations named), rows loaded / duplicates / quarantined per
source, tonight's quarantines and held-back deliveries with their reasons, the data quality per
partner (don't-know rates, unmapped codes, rejected and quarantined submissions), freshness per
partner (its last loaded delivery against the cadence the registry expects), charts of the LNOB
gap per series and group (group vs rest of the sample vs the official value, with 95% intervals
and the sample size on every bar) from the published ``marts.fct_lnob_gap``, and the trend of
each series and group across nights.

The trend comes from what earlier runs published: the report step keeps a small history table,
``lnob_meta.report_history`` (per publishing run, the country-level gap values with their n and
suppression flag). It only reads ``marts``. The charts are inline SVG drawn here, so the pages work
offline (no CDN, no script). Every text that comes from data (partner names, reasons, labels) is
HTML-escaped. No respondent-level value is shown: counts, rates and published estimates only.

It links to the Great Expectations Data Docs and to the dbt docs, which the report step generates
(``dbt docs generate --static``, a few seconds) into ``data/reports/dbt_docs/index.html``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from lnob import registry
from lnob.ingest.landing import safe_name
from lnob.platform import roles, warehouse
from lnob.platform.config import META_SCHEMA, PUBLISHED_SCHEMA, Settings, settings
from lnob.quality import gates

log = logging.getLogger(__name__)

#: How old (days) a source's last loaded delivery may be on the night before it is overdue.
CADENCE_DAYS = registry.CADENCES


def _e(value) -> str:
    """HTML-escape anything (None as an empty string), quotes included: safe in text and attributes."""
    return "" if value is None else escape(str(value), quote=True)


# --------------------------------------------------------------------------------------------
# What the report reads


def freshness(conn, reg: registry.Registry, night: date) -> list[dict]:
    """Per partner: each source's last loaded delivery (from the ledger, up to the night) against
    its cadence; a partner is stale when any of its sources is overdue or never delivered."""
    with conn.cursor() as cur:
        cur.execute(
            f"""select source_id, max(delivery_date)
                        from {META_SCHEMA}.delivery_ledger
                        where status = 'loaded' and delivery_date <= %s
                        group by source_id""",
            (night,),
        )
        last = dict(cur.fetchall())
    out = []
    for partner in reg.partners.values():
        sources: list[dict[str, Any]] = []
        for src in reg.sources_of(partner.id):
            allowed = CADENCE_DAYS[src.cadence]
            seen = last.get(src.id)
            age = (night - seen).days if seen else None
            sources.append(
                {
                    "source_id": src.id,
                    "cadence": src.cadence,
                    "allowed_days": allowed,
                    "last_delivery_date": seen.isoformat() if seen else None,
                    "age_days": age,
                    "overdue_days": None if age is None else max(0, age - allowed),
                    "stale": age is None or age > allowed,
                }
            )
        dates = [s["last_delivery_date"] for s in sources if s["last_delivery_date"]]
        if not sources:
            status = "no source"
        elif any(s["stale"] for s in sources):
            status = "stale"
        else:
            status = "fresh"
        out.append(
            {
                "partner_id": partner.id,
                "partner_name": partner.name,
                "kind": partner.kind,
                "country": partner.country,
                "last_delivery_date": max(dates) if dates else None,
                "cadences": sorted({s["cadence"] for s in sources}),
                "sources": sources,
                "status": status,
            }
        )
    return sorted(out, key=lambda p: (p["status"] != "stale", p["kind"], p["partner_id"]))


def quarantines(conn, run_id: str) -> list[dict]:
    """Tonight's quarantined deliveries with their reasons (a contract break or a raw gate)."""
    with conn.cursor() as cur:
        cur.execute(
            f"""select subject, detail from {META_SCHEMA}.run_log
                        where run_id = %s and stage = 'load_raw' and outcome = 'quarantined'
                        order by subject""",
            (run_id,),
        )
        rows = cur.fetchall()
    out = []
    for subject, detail in rows:
        detail = detail or {}
        reason = detail.get("reason") or {}
        out.append(
            {
                "subject": subject,
                "source_id": detail.get("source_id"),
                "partner_id": detail.get("partner_id") or reason.get("partner"),
                "file": detail.get("file_name") or reason.get("file"),
                "delivery_date": detail.get("delivery_date"),
                "kind": reason.get("kind"),
                "problems": list(reason.get("errors") or reason.get("problems") or [])[:20],
                "total": reason.get("total"),
                "path": detail.get("quarantine_path"),
            }
        )
    return out


def gate_details(conn, run_id: str) -> list[dict]:
    """Every gate of the night with its failed expectations (table, column, count, sample)."""
    with conn.cursor() as cur:
        cur.execute(
            f"""select stage, subject, outcome, detail from {META_SCHEMA}.run_log
                        where run_id = %s and stage in ('gate_raw', 'gate_marts')
                        order by stage desc, outcome, subject""",
            (run_id,),
        )
        rows = cur.fetchall()
    return [
        {
            "stage": stage,
            "subject": subject,
            "outcome": outcome,
            "failed": (detail or {}).get("failed") or [],
            "error": (detail or {}).get("error"),
            "evaluated": (detail or {}).get("evaluated") or (detail or {}).get("tests"),
        }
        for stage, subject, outcome, detail in rows
    ]


def lnob_gap(conn) -> list[dict]:
    """Country-level rows of the published gap mart, with the country and series names."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f"{PUBLISHED_SCHEMA}.fct_lnob_gap",))
        if not cur.fetchone()[0]:
            return []
        cur.execute(f"""
            with series as (
                select distinct on (series_code) series_code, series_name, indicator_code
                from {PUBLISHED_SCHEMA}.dim_indicator order by series_code, indicator_code
            )
            select g.series, s.series_name, s.indicator_code, g.ref_area, geo.area_name, g.time_period,
                   g.group_dimension, g.group_code, g.group_label, g.group_value, g.group_lower_bound, g.group_upper_bound,
                   g.group_n, g.group_obs_status, g.rest_value, g.rest_lower_bound, g.rest_upper_bound,
                   g.rest_n, g.official_value, g.official_time_period, g.official_partners,
                   g.official_has_group_breakdown, g.difference_vs_rest, g.partners
            from {PUBLISHED_SCHEMA}.fct_lnob_gap g
            left join series s on s.series_code = g.series
            left join {PUBLISHED_SCHEMA}.dim_geography geo on geo.ref_area = g.ref_area
            where g.ref_area_level = 'country'
            order by g.series, geo.area_name, g.ref_area, g.time_period, g.group_code""")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


#: The history the trends are drawn from: per run that published, the country-level LNOB gap as
#: it was published (values, n, suppression flag). Written by the report step, never by publish.
HISTORY_DDL = f"""
create table if not exists {META_SCHEMA}.report_history (
    run_id            text        not null,
    night             date        not null,
    recorded_at       timestamptz not null default now(),
    series            text        not null,
    series_name       text,
    indicator_code    text,
    ref_area          text        not null,
    area_name         text,
    time_period       text        not null,
    group_dimension   text        not null,
    group_code        text        not null,
    group_label       text,
    group_value       double precision,
    group_n           bigint,
    group_obs_status  text,
    rest_value        double precision,
    rest_n            bigint,
    official_value    double precision,
    primary key (run_id, series, ref_area, time_period, group_dimension, group_code)
)"""

_HISTORY_COLUMNS = (
    "series",
    "series_name",
    "indicator_code",
    "ref_area",
    "area_name",
    "time_period",
    "group_dimension",
    "group_code",
    "group_label",
    "group_value",
    "group_n",
    "group_obs_status",
    "rest_value",
    "rest_n",
    "official_value",
)


def ensure_history(cur) -> None:
    cur.execute("select pg_advisory_xact_lock(hashtext('lnob_meta_ddl'))")
    cur.execute(HISTORY_DDL)


def record_history(conn, run_id: str, night: date, gap: list[dict]) -> int:
    """Keep what this run published (the country-level gap rows read from ``marts``) in
    ``lnob_meta.report_history``; the same run again replaces its own rows (idempotent)."""
    with conn.cursor() as cur:
        ensure_history(cur)
        cur.execute(f"delete from {META_SCHEMA}.report_history where run_id = %s", (run_id,))
        cols = ", ".join(_HISTORY_COLUMNS)
        marks = ", ".join(["%s"] * (len(_HISTORY_COLUMNS) + 2))
        cur.executemany(
            f"insert into {META_SCHEMA}.report_history (run_id, night, {cols}) values ({marks})",
            [(run_id, night, *(r.get(c) for c in _HISTORY_COLUMNS)) for r in gap],
        )
    conn.commit()
    return len(gap)


def history(conn) -> list[dict]:
    """The published gap of every night that published, one run per night (its latest), oldest
    night first: what the trend charts draw."""
    with conn.cursor() as cur:
        ensure_history(cur)
        cur.execute(f"""
            with last_run as (
                select distinct on (night) night, run_id
                from {META_SCHEMA}.report_history order by night, recorded_at desc, run_id desc
            )
            select h.night, h.run_id, {", ".join("h." + c for c in _HISTORY_COLUMNS)}
            from {META_SCHEMA}.report_history h join last_run using (night, run_id)
            order by h.series, h.ref_area, h.group_dimension, h.group_code, h.night""")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.commit()
    return rows


#: Yes/no answers whose "don't know" / "refused" spellings the registry maps to ``_U``.
DONT_KNOW_QUESTIONS = (
    ("birth_registered", "birth registered"),
    ("felt_discriminated", "felt discriminated"),
    ("health_need", "needed health care"),
    ("health_access", "received health care"),
    ("water_safe", "safe water"),
)


def dont_know_rates(conn) -> dict[str, dict]:
    """Per partner: respondents in the harmonised data and, per yes/no question, how many answers
    were "don't know" or "refused" (``_U``) out of the answers given. Counts only."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('intermediate.int_persons_harmonised') is not null")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("""select column_name from information_schema.columns
                       where table_schema = 'intermediate' and table_name = 'int_persons_harmonised'""")
        have = {r[0] for r in cur.fetchall()}
        questions = [(c, label) for c, label in DONT_KNOW_QUESTIONS if c in have]
        parts = ", ".join(f"count(*) filter (where {c} = '_U'), count({c})" for c, _ in questions)
        cur.execute(
            f"select partner_id, count(*){', ' + parts if parts else ''} "
            "from intermediate.int_persons_harmonised group by partner_id"
        )
        out = {}
        for row in cur.fetchall():
            qs = [
                {"question": label, "dont_know": row[2 + 2 * i], "answered": row[3 + 2 * i]}
                for i, (_, label) in enumerate(questions)
            ]
            dk = sum(q["dont_know"] for q in qs)
            answered = sum(q["answered"] for q in qs)
            out[row[0]] = {
                "persons": row[1],
                "questions": qs,
                "dont_know": dk,
                "answered": answered,
                "rate": dk / answered if answered else None,
            }
    conn.commit()
    return out


def partner_quality(reg: registry.Registry, summary: dict, rates: dict[str, dict]) -> list[dict]:
    """Per partner with a source: tonight's deliveries and quarantines, the submissions its
    reviewers rejected or that were quarantined alone, the deliveries held back (with the unmapped
    codes among their reasons), and the don't-know rates of its respondents."""
    out = []
    for partner in reg.partners.values():
        sources = [s.id for s in reg.sources_of(partner.id)]
        if not sources:
            continue
        row: dict[str, Any] = {
            "partner_id": partner.id,
            "partner_name": partner.name,
            "country": partner.country,
            "kind": partner.kind,
            "sources": sources,
            "deliveries": 0,
            "quarantined": 0,
            "rows_loaded": 0,
            "submissions": None,
            "held_back": [],
            "unmapped": [],
            "dont_know": rates.get(partner.id),
        }
        for src in sources:
            info = (summary.get("sources") or {}).get(src)
            if not info:
                continue
            row["deliveries"] += info.get("deliveries", 0)
            row["quarantined"] += info.get("quarantined", 0)
            row["rows_loaded"] += info.get("rows_loaded", 0)
            if info.get("submissions"):
                tally = row["submissions"] or {"delivered": 0, "loaded": 0, "rejected": 0, "quarantined": 0}
                for k in tally:
                    tally[k] += info["submissions"].get(k, 0)
                row["submissions"] = tally
        for h in summary.get("held_back") or []:
            if h.get("partner") == partner.id or h.get("source") in sources:
                row["held_back"].append(h)
                row["unmapped"] += [{"source": h.get("source"), **u} for u in h.get("unmapped") or []]
        out.append(row)
    return sorted(out, key=lambda r: (-(r["quarantined"] + len(r["held_back"])), r["kind"], r["partner_id"]))


#: What makes two groups of one series, area and year the same published cell: when every value
#: and count is equal, they are the same respondents under two codes (in the community surveys
#: migrant status is derived from displacement: refugees C09 are the migrants MS_MIGRANT).
TWIN_KEYS = ("group_value", "group_n", "group_lower_bound", "group_upper_bound", "rest_value", "rest_n")


def merge_twins(rows: list[dict]) -> list[dict]:
    """One row per distinct published cell: groups of the same series, area and year with the
    same value, interval and n for the group and for the rest are one cell shown once, under
    every label it carries (``twins``). Suppressed rows are never merged (nothing to compare)."""
    out: list[dict] = []
    seen: dict[tuple, dict] = {}
    for r in rows:
        published = r.get("group_value") is not None and r.get("group_n") is not None
        key = (r["series"], r["ref_area"], r.get("time_period"), *(r.get(k) for k in TWIN_KEYS))
        if published and key in seen:
            seen[key]["twins"].append(r)
            continue
        row = {**r, "twins": [r]}
        out.append(row)
        if published:
            seen[key] = row
    for row in out:  # a custom group (its own label) first, the SDMX re-coding after it
        row["twins"].sort(key=lambda t: (t.get("group_dimension") != "CUST_BREAKDOWN", t["group_code"]))
        first = row["twins"][0]
        row.update(
            {
                "group_code": first["group_code"],
                "group_label": first["group_label"],
                "group_dimension": first.get("group_dimension"),
            }
        )
    return out


def group_label(row: dict) -> str:
    """The group's label before its code; twins: every label, "= the same respondents"."""
    names = [
        f"{t.get('group_label') or t['group_code']} ({t['group_code']})" for t in row.get("twins") or [row]
    ]
    return " = ".join(names)


def safe_run(run_id: str) -> str:
    """A run id as a folder name: ``manual__2026-12-03T08:31:00.297879+00:00`` ->
    ``manual__2026-12-03T08-31-00.297879-00-00`` (letters, digits, ``.``, ``_``, ``-`` only)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", run_id).strip(".-") or "run"
    return name[:150]


def dbt_docs(url: str, cfg: Settings, complete: bool = True) -> tuple[str | None, str | None]:
    """Generate the dbt docs as one static page into ``<reports>/dbt_docs/index.html``; returns
    (path, None) or (None, why not). A failure here never hides the rest of the report. Docs
    generated on a complete night are kept until the dbt project changes."""
    from lnob.transform import runner as transform

    target = cfg.reports_dir / "dbt_docs" / "index.html"
    stamp = target.with_name(".project-sha256")
    digest = _project_digest(cfg.dbt_project_dir)
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return str(target), None  # the docs of this very project are there: no need to regenerate
    try:
        transform.run_dbt(["docs", "generate", "--static"], roles.step_url(url, roles.TRANSFORMER), cfg)
    except Exception as exc:  # noqa: BLE001 - the report must still be written
        log.warning("dbt docs generate failed: %s", exc)
        return None, f"dbt docs generate failed: {str(exc)[:500]}"
    page = cfg.home / "dbt" / "target" / "static_index.html"
    if not page.exists():
        return None, f"dbt docs generate wrote no {page}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, target)
    if complete:  # every model was built, so the catalog is whole
        stamp.write_text(digest)
    else:
        stamp.unlink(missing_ok=True)
    return str(target), None


def _project_digest(project: Path) -> str:
    """A digest of every file the dbt docs are made of (models, macros, seeds, tests, properties,
    project and profile): the same digest, the same docs (their columns come from the same models)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(
        p
        for p in project.rglob("*")
        if p.is_file() and not {"target", "logs", "dbt_packages"} & set(p.relative_to(project).parts)
    ):
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def collect(
    url: str, run_id: str, night: date, summary: dict, cfg: Settings | None = None, with_dbt_docs: bool = True
) -> dict:
    """Everything the page shows, read as the pipeline's configured user (ledger, run log, the
    harmonised respondents' counts and the published marts). A run that published records its
    gap in the history first, so that its own night is on the trend."""
    cfg = cfg or settings()
    reg = registry.load(cfg.registry_path)
    with warehouse.connect(url) as conn:
        data: dict[str, Any] = {
            "summary": summary,
            "freshness": freshness(conn, reg, night),
            "quarantines": quarantines(conn, run_id),
            "gates": gate_details(conn, run_id),
            "gap": lnob_gap(conn),
        }
        if summary.get("published_tonight") and data["gap"]:
            record_history(conn, run_id, night, data["gap"])
        data["history"] = history(conn)
        data["partners"] = partner_quality(reg, summary, dont_know_rates(conn))
    data["data_docs"] = gates.data_docs_index(cfg)
    data["dbt_docs"], data["dbt_docs_problem"] = (
        dbt_docs(url, cfg, bool(summary.get("complete"))) if with_dbt_docs else (None, "not generated")
    )
    return data


# --------------------------------------------------------------------------------------------
# Charts: inline SVG, one per series; per country and group three bars with their intervals

BAR_KINDS = (("group", "Group"), ("rest", "Rest of sample"), ("official", "Official (national)"))
LABEL_W, PLOT_W, RIGHT_W, BAR_H, BAR_GAP, ROW_GAP, TOP = 300, 400, 300, 12, 3, 14, 34


def _x(value: float, scale: float) -> float:
    return LABEL_W + max(0.0, min(value, scale)) / scale * PLOT_W


def _why_missing(kind: str, r: dict) -> tuple[str, str]:
    """(css class, words) for a bar that is not drawn: a suppressed cell is said to be suppressed,
    never drawn as zero or passed over as missing."""
    group_suppressed = r.get("group_obs_status") == "Q"
    if kind == "group":
        return ("suppressed", "suppressed (small cell)") if group_suppressed else ("missing", "no value")
    if kind == "rest":
        if group_suppressed:
            return "suppressed", "suppressed (would reveal the suppressed group)"
        return "suppressed", "suppressed (small cell)"
    return "missing", "no official value"


def _label_lines(r: dict) -> list[tuple[str, str]]:
    """The row's label, labels before codes: the area, the group, its twins (same respondents)."""
    twins = r.get("twins") or [r]
    lines = [("row-label area", str(r.get("area_name") or r["ref_area"]))]
    lines.append(
        (
            "row-label group",
            f"{twins[0].get('group_label') or twins[0]['group_code']} ({twins[0]['group_code']})",
        )
    )
    for t in twins[1:]:
        lines.append(("row-label twin", f"= {t.get('group_label') or t['group_code']} ({t['group_code']})"))
    if len(twins) > 1:
        lines.append(("row-label twin", "the same respondents"))
    return lines


def gap_chart(series: str, rows: list[dict]) -> str:
    """One series: for every country x group, bars for the group, the rest of the sample and the
    official value (percent) with the sample size, whiskers for the 95% intervals; suppressed
    cells shown as suppressed, missing official values said. Groups that are the same published
    cell (:func:`merge_twins`) are one row under each of their labels."""
    rows = merge_twins(rows)
    values = [r.get(f"{k}_{s}") for r in rows for k, _ in BAR_KINDS for s in ("value", "upper_bound")]
    scale = max([100.0] + [float(v) for v in values if v is not None])
    block = 3 * BAR_H + 2 * BAR_GAP
    heights = [max(block, 13 * len(_label_lines(r))) for r in rows]
    height = TOP + sum(h + ROW_GAP for h in heights) + 10
    width = LABEL_W + PLOT_W + RIGHT_W
    out = [
        f'<svg class="gap-chart" data-series="{_e(series)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="LNOB gap for {_e(series)}">'
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f1f1"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern></defs>'
    ]
    for tick in range(0, int(scale) + 1, 25):
        x = _x(tick, scale)
        out.append(
            f'<line class="grid" x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 8}"/>'
            f'<text class="tick" x="{x:.1f}" y="{TOP - 10}" text-anchor="middle">{tick}%</text>'
        )
    y = TOP
    for r, row_h in zip(rows, heights, strict=True):
        twins = r.get("twins") or [r]
        codes = " ".join(t["group_code"] for t in twins)
        attrs = (
            f'data-series="{_e(series)}" data-area="{_e(r["ref_area"])}" '
            f'data-group="{_e(r["group_code"])}" data-period="{_e(r["time_period"])}"'
        )
        out.append(f'<g class="gap-row" {attrs} data-groups="{_e(codes)}">')
        for i, (cls, text) in enumerate(_label_lines(r)):
            out.append(
                f'<text class="{cls}" x="{LABEL_W - 8}" y="{y + 10 + 13 * i}" text-anchor="end">{_e(text)}</text>'
            )
        for i, (kind, name) in enumerate(BAR_KINDS):
            by = y + i * (BAR_H + BAR_GAP)
            value = r.get(f"{kind}_value")
            n = r.get(f"{kind}_n")
            if value is None:
                cls, why = _why_missing(kind, r)
                mark = (
                    f'<rect class="suppressed-mark suppressed-{kind}" x="{LABEL_W + 1}" y="{by}" width="22" '
                    f'height="{BAR_H}" fill="url(#hatch)"><title>{_e(name)}: {_e(why)}</title></rect>'
                    if cls == "suppressed"
                    else ""
                )
                x_text = LABEL_W + (28 if mark else 4)
                out.append(
                    f'{mark}<text class="missing missing-{kind} {cls}" x="{x_text}" y="{by + BAR_H - 2}">'
                    f"{_e(name)}: {_e(why)}</text>"
                )
                continue
            x0 = _x(0, scale)
            w = max(_x(float(value), scale) - x0, 1.0)
            tip = f"{name}: {float(value):.1f}%" + (f", n = {int(n):,}" if n is not None else "")
            lo, hi = r.get(f"{kind}_lower_bound"), r.get(f"{kind}_upper_bound")
            if lo is not None and hi is not None:
                tip += f" (95% interval {float(lo):.1f}–{float(hi):.1f})"
            out.append(
                f'<rect class="bar bar-{kind}" {attrs} data-kind="{kind}" data-value="{float(value):.2f}" '
                f'data-n="{_e(n)}" x="{x0:.1f}" y="{by}" width="{w:.1f}" height="{BAR_H}">'
                f"<title>{_e(tip)}</title></rect>"
            )
            if lo is not None and hi is not None:
                xl, xh, ym = _x(float(lo), scale), _x(float(hi), scale), by + BAR_H / 2
                out.append(
                    f'<path class="ci ci-{kind}" d="M{xl:.1f},{by + 2}V{by + BAR_H - 2}M{xl:.1f},{ym}'
                    f'H{xh:.1f}M{xh:.1f},{by + 2}V{by + BAR_H - 2}"/>'
                )
            if kind == "official":
                size = f"official {r.get('official_time_period') or ''}".strip()
            else:
                size = f"n = {int(n):,}" if n is not None else "n unknown"
            out.append(
                f'<text class="value value-{kind}" x="{LABEL_W + PLOT_W + 6}" y="{by + BAR_H - 2}">'
                f'{float(value):.1f}% <tspan class="n">{_e(size)}</tspan></text>'
            )
        if r.get("official_has_group_breakdown") is False:
            out.append(
                f'<text class="knowledge-gap" x="{LABEL_W + PLOT_W + RIGHT_W - 4}" '
                f'y="{y + 2 * (BAR_H + BAR_GAP) + BAR_H - 2}" text-anchor="end">no official breakdown</text>'
            )
        out.append("</g>")
        y += row_h + ROW_GAP
    out.append("</svg>")
    return "".join(out)


TREND_ROW_H, TREND_PLOT_H, TREND_W, TREND_RIGHT_W = 58, 40, 380, 290


def trend_chart(series: str, rows: list[dict], nights: list[str]) -> str:
    """One series across nights: per country x group a small line of the group's published value
    (and the rest of the sample's, grey), one point per night that published, the n beside each
    point in its tooltip; a suppressed night is a hatched mark "S" on the axis, not a zero.
    Groups that were the same cell every night are one row (:func:`merge_twins`)."""
    lines: dict[tuple, dict] = {}
    for r in rows:
        key = (r["ref_area"], r["group_dimension"], r["group_code"])
        lines.setdefault(key, {"first": r, "points": {}})["points"][str(r["night"])] = r
    # twins: the same values every night -> one line under both labels
    merged: list[dict] = []
    for key, line in lines.items():
        sig = tuple(
            (n, p.get("group_value"), p.get("group_n"), p.get("rest_value"), p.get("rest_n"))
            for n, p in sorted(line["points"].items())
        )
        published = any(p.get("group_n") is not None for p in line["points"].values())
        twin_of = next((m for m in merged if published and m["sig"] == sig and m["area"] == key[0]), None)
        if twin_of:
            twin_of["twins"].append(line["first"])
            continue
        merged.append({"area": key[0], "sig": sig, "twins": [line["first"]], "points": line["points"]})
    for m in merged:
        m["twins"].sort(key=lambda t: (t.get("group_dimension") != "CUST_BREAKDOWN", t["group_code"]))
    merged.sort(key=lambda m: (m["twins"][0].get("area_name") or m["area"], m["twins"][0]["group_code"]))
    width = LABEL_W + TREND_W + TREND_RIGHT_W
    height = TOP + len(merged) * TREND_ROW_H + 8
    step = TREND_W / max(len(nights) - 1, 1)

    def xn(i: int) -> float:
        return LABEL_W + 10 + (i * step if len(nights) > 1 else TREND_W / 2) * (TREND_W - 20) / TREND_W

    out = [
        f'<svg class="trend-chart" data-series="{_e(series)}" data-nights="{len(nights)}" '
        f'xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Trend of the LNOB gap for {_e(series)} across nights">'
        '<defs><pattern id="hatch-t" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f1f1"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#9a9a9a" stroke-width="2"/></pattern></defs>'
    ]
    for i, night in enumerate(nights):
        out.append(
            f'<line class="grid" x1="{xn(i):.1f}" y1="{TOP - 6}" x2="{xn(i):.1f}" y2="{height - 6}"/>'
            f'<text class="tick" x="{xn(i):.1f}" y="{TOP - 10}" text-anchor="middle">{_e(night)}</text>'
        )
    y = TOP
    for m in merged:
        first = m["twins"][0]
        codes = " ".join(t["group_code"] for t in m["twins"])
        out.append(
            f'<g class="trend-row" data-series="{_e(series)}" data-area="{_e(m["area"])}" '
            f'data-group="{_e(first["group_code"])}" data-groups="{_e(codes)}">'
        )
        label = [
            str(first.get("area_name") or m["area"]),
            f"{first.get('group_label') or first['group_code']} ({first['group_code']})",
        ]
        label += [f"= {t.get('group_label') or t['group_code']} ({t['group_code']})" for t in m["twins"][1:]]
        if len(m["twins"]) > 1:
            label.append("the same respondents")
        for i, text in enumerate(label):
            out.append(
                f'<text class="row-label" x="{LABEL_W - 8}" y="{y + 12 + 13 * i}" text-anchor="end">{_e(text)}</text>'
            )
        base = y + TREND_PLOT_H + 4
        out.append(
            f'<line class="axis" x1="{LABEL_W}" y1="{base}" x2="{LABEL_W + TREND_W}" y2="{base}"/>'
            f'<line class="half" x1="{LABEL_W}" y1="{base - TREND_PLOT_H / 2}" x2="{LABEL_W + TREND_W}" '
            f'y2="{base - TREND_PLOT_H / 2}"/><text class="tick" x="{LABEL_W + TREND_W + 4}" '
            f'y="{base - TREND_PLOT_H / 2 + 3}">50%</text>'
        )

        def py(v: float, base: float = base) -> float:
            return base - max(0.0, min(float(v), 100.0)) / 100.0 * TREND_PLOT_H

        for kind in ("rest", "group"):
            pts = [(i, m["points"].get(nt)) for i, nt in enumerate(nights)]
            drawn = [
                (xn(i), py(p[f"{kind}_value"]), p) for i, p in pts if p and p.get(f"{kind}_value") is not None
            ]
            if len(drawn) > 1:
                out.append(
                    f'<polyline class="trend trend-{kind}" points="'
                    + " ".join(f"{x:.1f},{yv:.1f}" for x, yv, _ in drawn)
                    + '"/>'
                )
            for x, yv, p in drawn:
                n = p.get(f"{kind}_n")
                tip = (
                    f"{p['night']}: {'group' if kind == 'group' else 'rest of sample'} "
                    f"{float(p[f'{kind}_value']):.1f}%" + (f", n = {int(n):,}" if n is not None else "")
                )
                out.append(
                    f'<circle class="point point-{kind}" data-night="{_e(p["night"])}" '
                    f'data-value="{float(p[f"{kind}_value"]):.2f}" data-n="{_e(n)}" cx="{x:.1f}" cy="{yv:.1f}" '
                    f'r="{3.5 if kind == "group" else 2.5}"><title>{_e(tip)}</title></circle>'
                )
        for i, nt in enumerate(nights):
            p = m["points"].get(nt)
            if p and p.get("group_value") is None and p.get("group_obs_status") == "Q":
                out.append(
                    f'<g class="suppressed-point" data-night="{_e(nt)}"><rect x="{xn(i) - 6:.1f}" '
                    f'y="{base - 12}" width="12" height="12" fill="url(#hatch-t)"/><text class="supp" '
                    f'x="{xn(i):.1f}" y="{base - 2}" text-anchor="middle">S</text><title>{_e(nt)}: '
                    "group suppressed (small cell)</title></g>"
                )
        last = next((m["points"][nt] for nt in reversed(nights) if nt in m["points"]), None)
        if last is not None:
            if last.get("group_value") is not None:
                txt = (
                    f"{float(last['group_value']):.1f}% (n = {int(last['group_n']):,})"
                    if last.get("group_n") is not None
                    else f"{float(last['group_value']):.1f}%"
                )
                firsts = [
                    m["points"][nt]
                    for nt in nights
                    if nt in m["points"] and m["points"][nt].get("group_value") is not None
                ]
                if len(firsts) > 1:
                    change = float(last["group_value"]) - float(firsts[0]["group_value"])
                    txt += f", {change:+.1f} pts since {firsts[0]['night']}"
            else:
                txt = "suppressed"
            out.append(f'<text class="value" x="{LABEL_W + TREND_W + 34}" y="{base - 4}">{_e(txt)}</text>')
        out.append("</g>")
        y += max(TREND_ROW_H, 13 * len(label) + 6)
    out.append("</svg>")
    svg = "".join(out)
    return svg.replace(
        f'height="{height}" viewBox="0 0 {width} {height}"',
        f'height="{y + 8}" viewBox="0 0 {width} {y + 8}"',
        1,
    )


# --------------------------------------------------------------------------------------------
# The page

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#1b1b1b;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 4px}table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:600}
.badge.ok,.badge.passed,.badge.fresh,.status.ok{background:#e3f4e6;color:#17612a}
.badge.failed,.badge.stale,.status.failed{background:#fde4e1;color:#a1170b}.badge.nosource{background:#eee;color:#555}
tr.stale td,tr.gate-failed td{background:#fff6f5}details summary{cursor:pointer;margin:6px 0}
.status{font-size:16px;padding:8px 12px;border-radius:6px;margin:12px 0}pre{white-space:pre-wrap;background:#f8f8f8;padding:8px;font-size:12px}
svg.gap-chart{display:block;max-width:100%;height:auto}svg .bar-group{fill:#c0392b}svg .bar-rest{fill:#7f8c8d}svg .bar-official{fill:#2471a3}
svg .ci{stroke:#111;stroke-width:1.3;fill:none}svg .grid{stroke:#e3e3e3}svg text{font-size:11px;fill:#333}svg .missing{fill:#888;font-style:italic}
svg .knowledge-gap{fill:#a1170b;font-size:10px}.legend span{display:inline-block;margin-right:16px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.muted{color:#666}
svg .n{fill:#666}svg .suppressed{fill:#6b6b6b;font-style:italic}svg .row-label.twin{fill:#666;font-style:italic}
svg.trend-chart{display:block;max-width:100%;height:auto}svg .trend{fill:none;stroke-width:1.6}svg .trend-group{stroke:#c0392b}
svg .trend-rest{stroke:#7f8c8d;stroke-dasharray:3 2}svg .point-group{fill:#c0392b}svg .point-rest{fill:#7f8c8d}
svg .axis{stroke:#bbb}svg .half{stroke:#eee;stroke-dasharray:2 3}svg .supp{font-size:9px;fill:#333;font-weight:600}nav.runs a{margin-right:14px}
tr.run.incomplete td{background:#fff6f5}
"""


def _badge(outcome: str) -> str:
    return f'<span class="badge {_e(outcome.replace(" ", ""))}">{_e(outcome.upper())}</span>'


def _href(target: str | None, base: Path) -> str | None:
    if not target:
        return None
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:
        return Path(target).as_uri()


def _failed_item(f: dict) -> str:
    """One failed expectation: table, expectation(column), description, count and a sample."""
    sample = f.get("sample")
    return (
        f"<b>{_e(f.get('table'))}</b>: {_e(f.get('expectation'))}"
        + (f"({_e(f.get('column'))})" if f.get("column") else "")
        + (f" — “{_e(f.get('description'))}”" if f.get("description") else "")
        + (f"; unexpected: {_e(f.get('unexpected_count'))}" if f.get("unexpected_count") is not None else "")
        + (f"; sample: <code>{_e(sample)}</code>" if sample not in (None, [], "") else "")
        + (f"; error: {_e(f.get('exception'))}" if f.get("exception") else "")
    )


def _failed_items(failed: list[dict]) -> str:
    return (
        "<ul>" + "".join(f"<li class='failed-expectation'>{_failed_item(f)}</li>" for f in failed) + "</ul>"
        if failed
        else ""
    )


def _gate_rows(gates_: list[dict]) -> str:
    rows = []
    for g in gates_:
        detail = _failed_items(g["failed"])
        if g.get("error"):
            detail += f"<pre>{_e(g['error'])}</pre>"
        what = "mart gate" if g["stage"] == "gate_marts" else "raw gate"
        rows.append(
            f'<tr class="gate-row gate-{_e(g["outcome"])}" data-stage="{_e(g["stage"])}" '
            f'data-outcome="{_e(g["outcome"])}"><td>{what}</td><td>{_e(g["subject"])}</td>'
            f"<td>{_badge(g['outcome'])}</td><td>{detail}</td></tr>"
        )
    head = "<tr><th>gate</th><th>subject</th><th>outcome</th><th>failed expectations</th></tr>"
    return head + "".join(rows)


def _gates(data: dict) -> str:
    """The mart gate and every failed raw gate in full; the passed raw gates folded away."""
    gates_ = data["gates"]
    if not gates_:
        return "<p>No gate ran tonight.</p>"
    marts = [g for g in gates_ if g["stage"] == "gate_marts"]
    raw = [g for g in gates_ if g["stage"] == "gate_raw"]
    raw_failed = [g for g in raw if g["outcome"] != "passed"]
    raw_passed = [g for g in raw if g["outcome"] == "passed"]
    mart_state = (
        "not run tonight"
        if not marts
        else "passed"
        if all(g["outcome"] == "passed" for g in marts)
        else "FAILED"
    )
    out = [
        f"<p>Mart gate (dbt mart tests and the Great Expectations mart suites): <b>{_e(mart_state)}</b>. "
        f"Raw gates (one per delivery): {len(raw)}, {len(raw_failed)} failed.</p>",
        "<table id='gates'>" + _gate_rows(marts + raw_failed) + "</table>",
    ]
    if raw_passed:
        out.append(
            f"<details><summary>{len(raw_passed)} raw gates passed</summary>"
            f"<table id='gates-passed'>{_gate_rows(raw_passed)}</table></details>"
        )
    return "".join(out)


def _sources(summary: dict) -> str:
    ex = summary.get("extract") or {}

    def subs(info: dict, key: str) -> str:
        return f"{info['submissions'][key]:,}" if info.get("submissions") else ""

    rows = "".join(
        f"<tr><td>{_e(src)}</td><td class='num'>{info['deliveries']}</td><td class='num'>{info['rows_loaded']:,}</td>"
        f"<td class='num'>{info['duplicates']}</td><td class='num'>{info['quarantined']}</td>"
        f"<td class='num'>{subs(info, 'delivered')}</td><td class='num'>{subs(info, 'rejected')}</td>"
        f"<td class='num'>{subs(info, 'quarantined')}</td></tr>"
        for src, info in sorted(summary.get("sources", {}).items())
    )
    refused = ex.get("rejected") or []
    refused_html = (
        ""
        if not refused
        else f"<p>Refused in the landing folder, never read ({_e(ex.get('rejected_total', len(refused)))}):</p>"
        "<ul id='refused'>"
        + "".join(
            f"<li><code>{_e(safe_name(r.get('path'), 400))}</code>: {_e(safe_name(r.get('reason')))}</li>"
            for r in refused[:50]
        )
        + "</ul>"
    )
    return (
        f"<p>{_e(ex.get('new', 0))} new deliveries, {_e(ex.get('already_loaded', 0))} already loaded.</p>"
        "<table id='sources'><tr><th>source</th><th>deliveries</th><th>rows loaded</th><th>duplicates</th>"
        "<th>quarantined</th><th>submissions</th><th>rejected by reviewers (not counted)</th>"
        "<th>submissions quarantined alone</th></tr>"
        + (rows or "<tr><td colspan=8>No new deliveries tonight.</td></tr>")
        + "</table>"
        + refused_html
    )


def _problem(p) -> str:
    if isinstance(p, dict):
        if "expectation" in p:
            return _failed_item(p)
        return "; ".join(f"{_e(k)}: {_e(v)}" for k, v in p.items() if v not in (None, ""))
    return _e(p)


def _held_back(summary: dict) -> str:
    """Deliveries that loaded but broke something downstream (an unmapped code, a code outside its
    codelist, an unknown breakdown column): held back so that the other partners publish."""
    held = summary.get("held_back") or []
    if not held:
        return "<p>Nothing was held back tonight.</p>"
    rows = "".join(
        f"<tr class='held'><td>{_e(h['source'])}<br><span class='muted'>{_e(h['partner'])}</span></td>"
        f"<td>{_e(h['file'])}<br><span class='muted'>{_e(h['delivery_date'])}, delivery {_e(h['delivery_id'])}</span></td>"
        f"<td><ul>{''.join(f'<li>{_e(w)}</li>' for w in h['why'])}</ul></td></tr>"
        for h in held
    )
    return (
        "<table id='held-back'><tr><th>source</th><th>delivery</th><th>why</th></tr>" + rows + "</table>"
        "<p class='muted'>The other partners published. Fix the registry (map the code, declare the column), "
        "then <code>lnob quarantine retry &lt;id&gt;</code>.</p>"
    )


def _quarantines(data: dict) -> str:
    qs = data["quarantines"]
    if not qs:
        return "<p>Nothing was quarantined tonight.</p>"
    rows = []
    for q in qs:
        problems = "".join(f"<li>{_problem(p)}</li>" for p in q["problems"])
        more = (
            f" (first {len(q['problems'])} of {q['total']})"
            if q.get("total") and q["total"] > len(q["problems"])
            else ""
        )
        rows.append(
            f"<tr class='quarantine'><td>{_e(q['source_id'])}<br><span class='muted'>{_e(q['partner_id'])}</span></td>"
            f"<td>{_e(q['file'])}<br><span class='muted'>{_e(q['delivery_date'])}</span></td>"
            f"<td>{_e(q['kind'])}{_e(more)}<ul>{problems}</ul></td><td><code>{_e(q['path'])}</code></td></tr>"
        )
    return (
        "<table id='quarantines'><tr><th>source</th><th>file</th><th>reason</th><th>kept at</th></tr>"
        + "".join(rows)
        + "</table><p class='muted'>Retry after a fix: <code>lnob quarantine retry &lt;id&gt;</code>"
        " (<code>lnob quarantine list</code> shows the ids).</p>"
    )


def _freshness(data: dict, night: str) -> str:
    rows = []
    for p in data["freshness"]:
        status = {"no source": "no source"}.get(p["status"], p["status"])
        details = []
        for s in p["sources"]:
            if s["last_delivery_date"] is None:
                details.append(f"{_e(s['source_id'])} ({_e(s['cadence'])}): <b>never delivered</b>")
            elif s["stale"]:
                details.append(
                    f"{_e(s['source_id'])} ({_e(s['cadence'])}): last {_e(s['last_delivery_date'])}, "
                    f"<b>{s['overdue_days']} day(s) overdue</b>"
                )
            else:
                details.append(
                    f"{_e(s['source_id'])} ({_e(s['cadence'])}): last {_e(s['last_delivery_date'])}"
                )
        rows.append(
            f'<tr class="partner {_e(p["status"].replace(" ", ""))}" data-partner="{_e(p["partner_id"])}" '
            f'data-status="{_e(p["status"])}"><td>{_e(p["partner_name"])}<br><span class="muted">'
            f"{_e(p['partner_id'])} · {_e(p['kind'])}</span></td><td>{_e(', '.join(p['cadences']) or '—')}</td>"
            f"<td>{_e(p['last_delivery_date'] or '—')}</td><td>{_badge(status)}</td>"
            f"<td>{'<br>'.join(details) or 'no source registered yet'}</td></tr>"
        )
    stale = [p for p in data["freshness"] if p["status"] == "stale"]
    head = (
        (
            f"<p><b>{len(stale)} partner(s) overdue</b> on {_e(night)}: "
            + _e(", ".join(p["partner_name"] for p in stale))
            + ".</p>"
        )
        if stale
        else f"<p>Every delivering partner is within its cadence on {_e(night)}.</p>"
    )
    return (
        head + "<p class='muted'>A source is overdue when its last loaded delivery is older than its "
        "cadence allows (daily 1 day, weekly 7, monthly 31, quarterly 92, yearly 366).</p>"
        "<table id='freshness'><tr><th>partner</th><th>cadence</th><th>last delivery</th><th>status</th>"
        "<th>sources</th></tr>" + "".join(rows) + "</table>"
    )


def _series_heading(series: str, name: str | None, indicator: str | None, prefix: str) -> str:
    """Labels before codes: "Proportion of ... (16.9.1)", the series code after it, smaller."""
    title = name or series
    return (
        f"<h3 id='{prefix}-{_e(series)}'>{_e(title)}"
        + (f" ({_e(indicator)})" if indicator else "")
        + f"</h3><p class='muted'>series <code>{_e(series)}</code></p>"
    )


LEGEND = (
    "<p class='legend'>"
    + "".join(
        f"<span><i style='background:{c}'></i>{n}</span>"
        for n, c in (
            ("marginalised group", "#c0392b"),
            ("rest of the community sample", "#7f8c8d"),
            ("official national value", "#2471a3"),
        )
    )
    + "<span>— 95% interval</span>"
    "<span><i style='background:repeating-linear-gradient(45deg,#9a9a9a 0 2px,#f1f1f1 2px 5px)'></i>"
    "suppressed cell</span></p>"
)


def _charts(data: dict) -> str:
    rows = data["gap"]
    if not rows:
        return "<p>No published <code>marts.fct_lnob_gap</code> yet.</p>"
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append(r)
    parts = [
        LEGEND,
        "<p class='muted'>Country level, percent, <i>n</i> = respondents behind each bar "
        "(the published, perturbed count). First-level areas are in <code>marts.fct_lnob_gap</code> "
        "(ref_area_level = admin1). “no official breakdown”: official statistics never break this group "
        "out (the knowledge gap). A suppressed cell (fewer respondents than the minimum, or one that "
        "would reveal one) is marked, never drawn as zero. Two groups that are the same respondents "
        "(refugees C09 are the migrants MS_MIGRANT: the surveys know migrant status only from "
        "displacement) are one row under both labels.</p>",
    ]
    for series, srows in by_series.items():
        parts.append(
            _series_heading(series, srows[0].get("series_name"), srows[0].get("indicator_code"), "gap")
            + gap_chart(series, srows)
        )
    return "".join(parts)


def _trends(data: dict) -> str:
    rows = data.get("history") or []
    if not rows:
        return "<p>No night has published yet: the trend starts with the first published night.</p>"
    nights = sorted({str(r["night"]) for r in rows})
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append(r)
    parts = [
        f"<p>{len(nights)} night(s) that published: {_e(', '.join(nights))} (the latest run of each). "
        "Red: the group's published value; grey, dashed: the rest of the community sample; "
        "<b>S</b>: the group was suppressed that night. Each row runs from 0% (its axis) to 100%. Hover a point for its value and <i>n</i>. "
        "Kept by the report step in <code>lnob_meta.report_history</code>.</p>"
    ]
    for series, srows in sorted(by_series.items()):
        last = srows[-1]
        parts.append(
            _series_heading(series, last.get("series_name"), last.get("indicator_code"), "trend")
            + trend_chart(series, srows, nights)
        )
    return "".join(parts)


def _partners(data: dict) -> str:
    """Per-partner data quality: don't-know rates, unmapped codes, rejected and quarantined
    submissions, quarantined deliveries and held-back deliveries (with their reasons)."""
    rows = []
    for p in data.get("partners") or []:
        dk = p.get("dont_know")
        if dk and dk["answered"]:
            worst = sorted(
                (q for q in dk["questions"] if q["answered"]), key=lambda q: -q["dont_know"] / q["answered"]
            )
            dk_html = f"<b>{100 * dk['rate']:.1f}%</b> of {dk['answered']:,} answers" + "".join(
                f"<br><span class='muted'>{_e(q['question'])}: {100 * q['dont_know'] / q['answered']:.1f}% "
                f"({q['dont_know']:,} of {q['answered']:,})</span>"
                for q in worst[:3]
                if q["dont_know"]
            )
            persons = f"{dk['persons']:,}"
        else:
            dk_html, persons = "<span class='muted'>no survey respondents</span>", "—"
        subs = p.get("submissions")
        subs_html = (
            f"{subs['delivered']:,} delivered: {subs['rejected']:,} rejected by reviewers, "
            f"{subs['quarantined']:,} quarantined alone"
            if subs
            else "<span class='muted'>—</span>"
        )
        unmapped = "".join(
            f"<li><code>{_e(u.get('column'))}</code>: "
            + _e(", ".join(f"{v.get('value')!r} ×{v.get('rows')}" for v in u.get("values") or []))
            + f" <span class='muted'>({_e(u.get('source'))})</span></li>"
            for u in p["unmapped"]
        )
        held = "".join(
            f"<li>{_e(h.get('source'))} delivery {_e(h.get('delivery_id'))} ({_e(h.get('delivery_date'))}): "
            + _e("; ".join(h.get("why") or [])[:300])
            + "</li>"
            for h in p["held_back"]
        )
        flagged = p["quarantined"] or p["held_back"] or p["unmapped"]
        rate_attr = f"{dk['rate']:.4f}" if dk and dk["answered"] else ""
        rows.append(
            f"<tr class='partner-quality{' flagged' if flagged else ''}' data-partner='{_e(p['partner_id'])}' "
            f"data-quarantined='{p['quarantined']}' data-held-back='{len(p['held_back'])}' "
            f"data-unmapped='{len(p['unmapped'])}' data-dont-know-rate='{rate_attr}'>"
            f"<td>{_e(p['partner_name'])}<br><span class='muted'>{_e(p['partner_id'])} · {_e(p['country'])}</span></td>"
            f"<td class='num'>{persons}</td><td>{dk_html}</td>"
            f"<td class='num'>{p['deliveries']} / {p['quarantined']}</td><td>{subs_html}</td>"
            f"<td>{'<ul>' + unmapped + '</ul>' if unmapped else '<span class=muted>none</span>'}</td>"
            f"<td>{'<ul>' + held + '</ul>' if held else '<span class=muted>none</span>'}</td></tr>"
        )
    if not rows:
        return "<p>No partner has a source yet.</p>"
    return (
        "<p class='muted'>Respondents and don't-know rates: the harmonised data as of tonight "
        "(<code>intermediate.int_persons_harmonised</code>; “don't know” and “refused” answers to the yes/no "
        "questions, which leave every denominator). Deliveries, submissions, unmapped codes and held-back "
        "deliveries: tonight's run.</p>"
        "<table id='partner-quality'><tr><th>partner</th><th>respondents</th><th>don't know / refused</th>"
        "<th>deliveries / quarantined tonight</th><th>submissions</th><th>unmapped codes</th>"
        "<th>held back tonight</th></tr>" + "".join(rows) + "</table>"
    )


def _published(summary: dict) -> str:
    state = (
        "published tonight" if summary.get("published_tonight") else "NOT published tonight: marts unchanged"
    )
    rows = "".join(
        f"<tr><td>marts.{_e(t)}</td><td class='num'>{n:,}</td></tr>"
        for t, n in sorted((summary.get("published_tables") or {}).items())
    )
    ex = summary.get("exports") or {}
    files = "".join(
        f"<tr><td>{_e(name)}</td><td class='num'>{info.get('rows', 0):,}</td></tr>"
        for name, info in sorted((ex.get("files") or {}).items())
    )
    return (
        f"<p>Schema <code>marts</code>: {_e(state)}.</p><table id='published'><tr><th>table</th><th>rows</th></tr>"
        + rows
        + "</table>"
        + (
            f"<p>Exports in <code>{_e(ex.get('dir'))}</code>:</p><table><tr><th>file</th>"
            f"<th>rows</th></tr>{files}</table>"
            if ex
            else ""
        )
    )


def _nav(data: dict, base: Path) -> str:
    """Links from a page to the index of runs, the night's latest run and this run's own page."""
    s = data["summary"]
    links = []
    for key, text in (
        ("index_html", "All nights and runs"),
        ("night_report_html", f"Latest run of {s['night']}"),
        ("report_html", "This run's own page"),
    ):
        href = _href(s.get(key), base)
        if href:
            links.append(f"<a id='nav-{key.split('_')[0]}' href='{_e(href)}'>{_e(text)}</a>")
    return "<nav class='runs'>" + "".join(links) + "</nav>" if links else ""


def render(data: dict, base: Path) -> str:
    """The page; links are relative to ``base``, the folder the page is written to."""
    s = data["summary"]
    ok = s.get("complete")
    status = (
        "<div class='status ok'>Complete: every stage succeeded.</div>"
        if ok
        else "<div class='status failed'>Incomplete: " + _e("; ".join(s.get("problems") or [])) + "</div>"
    )
    gx = _href(data.get("data_docs"), base)
    dbt = _href(data.get("dbt_docs"), base)
    links = [
        f"<li><a id='link-gx' href='{_e(gx)}'>Great Expectations Data Docs</a> (the validations of the gates)</li>"
    ]
    if dbt:
        links.append(
            f"<li><a id='link-dbt' href='{_e(dbt)}'>dbt docs</a> (models, columns, tests and lineage)</li>"
        )
    else:
        links.append(
            f"<li>dbt docs: {_e(data.get('dbt_docs_problem'))}; generate them with "
            "<code>lnob dbt docs generate --static</code> (written to <code>.lnob/dbt/target/"
            "static_index.html</code>)</li>"
        )
    sections = [
        ("Gates", _gates(data)),
        ("Sources", _sources(s)),
        ("Data quality per partner", _partners(data)),
        ("Held back", _held_back(s)),
        ("Quarantine", _quarantines(data)),
        ("Freshness per partner", _freshness(data, s["night"])),
        ("The LNOB gap", _charts(data)),
        ("Trends across nights", _trends(data)),
        ("Published", _published(s)),
        ("Documentation", "<ul>" + "".join(links) + "</ul>"),
    ]
    ids = {"Data quality per partner": "quality", "Trends across nights": "trends"}
    body = "".join(
        f"<section id='section-{_e(ids.get(t) or t.split()[-1].lower())}'><h2>{_e(t)}</h2>{html}</section>"
        for t, html in sections
    )
    when = f", written {_e(s['written_at'])}" if s.get("written_at") else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>LNOB nightly run {_e(s['night'])}</title><style>{CSS}</style></head><body>"
        f"{_nav(data, base)}<h1>LNOB nightly run, night of {_e(s['night'])}</h1>"
        f"<p class='muted'>run <code>{_e(s['run_id'])}</code>{when}</p>"
        f"{status}{body}</body></html>\n"
    )


_NIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def runs(reports_dir: Path, current: dict | None = None) -> list[dict]:
    """Every run that wrote a report: ``<night>/<run>/summary.json`` under the reports folder
    (a night written before runs had folders: ``<night>/summary.json``) and ``current``, the run
    being written; newest night first, newest run first in a night."""
    import json

    found: dict[str, dict] = {}
    if reports_dir.exists():
        for night_dir in reports_dir.iterdir():
            if not (night_dir.is_dir() and _NIGHT.match(night_dir.name)):
                continue
            # the night's own summary.json: a pointer to one of its runs, or (reports written
            # before runs had folders) the night's only run, whose page is <night>/report.html
            for path in [night_dir / "summary.json", *night_dir.glob("*/summary.json")]:
                if not path.is_file():
                    continue
                try:
                    s = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if isinstance(s, dict) and s.get("run_id"):
                    found[s["run_id"]] = s
    if current:
        found[current["run_id"]] = current
    return sorted(
        found.values(),
        key=lambda s: (s.get("night") or "", s.get("written_at") or "", s["run_id"]),
        reverse=True,
    )


def _first(values: dict, *keys: str):
    """The value of the first key present (``None`` when none is)."""
    return next((values[k] for k in keys if k in values), None)


def _counts(s: dict) -> dict:
    sources = (s.get("sources") or {}).values()
    return {
        "new": (s.get("extract") or {}).get("new", 0),
        "rows": sum(i.get("rows_loaded", 0) for i in sources),
        "quarantined": sum(i.get("quarantined", 0) for i in sources),
        "held_back": len(s.get("held_back") or []),
        "gates_failed": sum(1 for g in s.get("gates") or [] if g.get("outcome") == "failed"),
        # runs before the rename (ADR 0007) counted the same table as mart_lnob_gap
        "gap_rows": _first((s.get("published_tables") or {}), "fct_lnob_gap", "mart_lnob_gap"),
    }


def render_index(all_runs: list[dict], data: dict, base: Path) -> str:
    """``reports/index.html``: every night and its runs (outcome and counts, a link to each run's
    own page), then the trend charts across nights."""
    rows = []
    nights = []
    for s in all_runs:
        if s["night"] not in nights:
            nights.append(s["night"])
        c = _counts(s)
        outcome = "complete" if s.get("complete") else "incomplete"
        published = "published" if s.get("published_tonight") else "not published"
        href = _href(s.get("report_html"), base)
        link = f"<a class='run-link' href='{_e(href)}'>{_e(s['run_id'])}</a>" if href else _e(s["run_id"])
        problems = "; ".join(s.get("problems") or [])
        rows.append(
            f"<tr class='run {outcome}' data-night='{_e(s['night'])}' data-run='{_e(s['run_id'])}' "
            f"data-outcome='{outcome}'><td>{_e(s['night'])}</td><td>{link}<br><span class='muted'>"
            f"{_e(s.get('written_at') or '')}</span></td><td>{_badge('ok' if s.get('complete') else 'failed')} "
            f"{_e(published)}"
            + (f"<br><span class='muted'>{_e(problems[:400])}</span>" if problems else "")
            + f"</td><td class='num'>{c['new']:,}</td><td class='num'>{c['rows']:,}</td>"
            f"<td class='num'>{c['quarantined']}</td><td class='num'>{c['held_back']}</td>"
            f"<td class='num'>{c['gates_failed']}</td><td class='num'>"
            f"{'' if c['gap_rows'] is None else format(c['gap_rows'], ',')}</td></tr>"
        )
    latest = _href(str(base / "latest.html"), base)
    table = (
        "<table id='runs'><tr><th>night</th><th>run</th><th>outcome</th><th>new deliveries</th>"
        "<th>rows loaded</th><th>quarantined</th><th>held back</th><th>gates failed</th>"
        "<th>LNOB gap rows published</th></tr>" + "".join(rows) + "</table>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>LNOB nightly runs</title><style>{CSS}</style></head><body>"
        f"<h1>LNOB nightly runs</h1><p class='muted'>{len(nights)} night(s), {len(all_runs)} run(s). "
        f"<a id='link-latest' href='{_e(latest)}'>The latest run</a>; each run keeps its own page "
        "(a re-run of a night is a new run).</p>"
        f"<section id='section-runs'><h2>Nights and runs</h2>{table}</section>"
        f"<section id='section-trends'><h2>Trends across nights</h2>{LEGEND}{_trends(data)}</section>"
        "</body></html>\n"
    )


def write(
    url: str, run_id: str, night: date, summary: dict, cfg: Settings | None = None, with_dbt_docs: bool = True
) -> Path:
    """Write this run's page ``<reports>/<night>/<run>/report.html`` (kept: a later run of the
    night writes its own), the pointers ``<reports>/<night>/report.html`` (the night's latest run)
    and ``<reports>/latest.html``, and the index ``<reports>/index.html``; returns the run's page.
    The summary's ``report_html``, ``night_report_html`` and ``index_html`` name them."""
    cfg = cfg or settings()
    night_dir = cfg.reports_dir / night.isoformat()
    folder = night_dir / safe_run(run_id)
    page = folder / "report.html"
    summary.setdefault("written_at", datetime.now(UTC).isoformat(timespec="seconds"))
    summary.update(
        report_html=str(page),
        night_report_html=str(night_dir / "report.html"),
        index_html=str(cfg.reports_dir / "index.html"),
    )
    data = collect(url, run_id, night, summary, cfg, with_dbt_docs)
    folder.mkdir(parents=True, exist_ok=True)
    page.write_text(render(data, folder), encoding="utf-8")
    # the pointers name the run written last: this one (its night's latest, and the latest of all)
    (night_dir / "report.html").write_text(render(data, night_dir), encoding="utf-8")
    (cfg.reports_dir / "latest.html").write_text(render(data, cfg.reports_dir), encoding="utf-8")
    all_runs = runs(cfg.reports_dir, summary)
    (cfg.reports_dir / "index.html").write_text(
        render_index(all_runs, data, cfg.reports_dir), encoding="utf-8"
    )
    return page
