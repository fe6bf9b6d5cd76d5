"""The run report: one self-contained HTML page per night, for the data team.

``data/reports/<night>/report.html`` (and ``data/reports/latest.html``) shows what the night did
and whether the data can be trusted: the gates (each raw delivery and the mart gate, with the
failed expectations named), rows loaded / duplicates / quarantined per source, tonight's
quarantines with their reasons, freshness per partner (its last loaded delivery against the
cadence the registry expects, overdue partners flagged), and charts of the LNOB gap per series and
group (group vs rest of the sample vs the official value, with 95% intervals) from the published
``marts.mart_lnob_gap``. The charts are inline SVG drawn here, so the page works offline (no CDN,
no script). Every text that comes from data (partner names, reasons, labels) is HTML-escaped.

It links to the Great Expectations Data Docs and to the dbt docs, which the report step generates
(``dbt docs generate --static``, a few seconds) into ``data/reports/dbt_docs/index.html``.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from html import escape
from pathlib import Path

from lnob import gates, registry, roles, warehouse
from lnob.config import META_SCHEMA, PUBLISHED_SCHEMA, Settings, settings
from lnob.landing import safe_name

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
        cur.execute(f"""select source_id, max(delivery_date)
                        from {META_SCHEMA}.delivery_ledger
                        where status = 'loaded' and delivery_date <= %s
                        group by source_id""", (night,))
        last = dict(cur.fetchall())
    out = []
    for partner in reg.partners.values():
        sources = []
        for src in reg.sources_of(partner.id):
            allowed = CADENCE_DAYS[src.cadence]
            seen = last.get(src.id)
            age = (night - seen).days if seen else None
            sources.append({"source_id": src.id, "cadence": src.cadence, "allowed_days": allowed,
                            "last_delivery_date": seen.isoformat() if seen else None, "age_days": age,
                            "overdue_days": None if age is None else max(0, age - allowed),
                            "stale": age is None or age > allowed})
        dates = [s["last_delivery_date"] for s in sources if s["last_delivery_date"]]
        if not sources:
            status = "no source"
        elif any(s["stale"] for s in sources):
            status = "stale"
        else:
            status = "fresh"
        out.append({"partner_id": partner.id, "partner_name": partner.name, "kind": partner.kind,
                    "country": partner.country, "last_delivery_date": max(dates) if dates else None,
                    "cadences": sorted({s["cadence"] for s in sources}), "sources": sources,
                    "status": status})
    return sorted(out, key=lambda p: (p["status"] != "stale", p["kind"], p["partner_id"]))


def quarantines(conn, run_id: str) -> list[dict]:
    """Tonight's quarantined deliveries with their reasons (a contract break or a raw gate)."""
    with conn.cursor() as cur:
        cur.execute(f"""select subject, detail from {META_SCHEMA}.run_log
                        where run_id = %s and stage = 'load_raw' and outcome = 'quarantined'
                        order by subject""", (run_id,))
        rows = cur.fetchall()
    out = []
    for subject, detail in rows:
        detail = detail or {}
        reason = detail.get("reason") or {}
        out.append({"subject": subject, "source_id": detail.get("source_id"),
                    "partner_id": detail.get("partner_id") or reason.get("partner"),
                    "file": detail.get("file_name") or reason.get("file"),
                    "delivery_date": detail.get("delivery_date"), "kind": reason.get("kind"),
                    "problems": list(reason.get("errors") or reason.get("problems") or [])[:20],
                    "total": reason.get("total"), "path": detail.get("quarantine_path")})
    return out


def gate_details(conn, run_id: str) -> list[dict]:
    """Every gate of the night with its failed expectations (table, column, count, sample)."""
    with conn.cursor() as cur:
        cur.execute(f"""select stage, subject, outcome, detail from {META_SCHEMA}.run_log
                        where run_id = %s and stage in ('gate_raw', 'gate_marts')
                        order by stage desc, outcome, subject""", (run_id,))
        rows = cur.fetchall()
    return [{"stage": stage, "subject": subject, "outcome": outcome,
             "failed": (detail or {}).get("failed") or [], "error": (detail or {}).get("error"),
             "evaluated": (detail or {}).get("evaluated") or (detail or {}).get("tests")}
            for stage, subject, outcome, detail in rows]


def lnob_gap(conn) -> list[dict]:
    """Country-level rows of the published gap mart, with the country and series names."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is not null", (f"{PUBLISHED_SCHEMA}.mart_lnob_gap",))
        if not cur.fetchone()[0]:
            return []
        cur.execute(f"""
            with series as (
                select distinct on (series_code) series_code, series_name, indicator_code
                from {PUBLISHED_SCHEMA}.dim_indicator order by series_code, indicator_code
            )
            select g.series, s.series_name, s.indicator_code, g.ref_area, geo.area_name, g.time_period,
                   g.group_code, g.group_label, g.group_value, g.group_lower_bound, g.group_upper_bound,
                   g.group_n, g.group_obs_status, g.rest_value, g.rest_lower_bound, g.rest_upper_bound,
                   g.rest_n, g.official_value, g.official_time_period, g.official_partners,
                   g.official_has_group_breakdown, g.difference_vs_rest, g.partners
            from {PUBLISHED_SCHEMA}.mart_lnob_gap g
            left join series s on s.series_code = g.series
            left join {PUBLISHED_SCHEMA}.dim_geography geo on geo.ref_area = g.ref_area
            where g.ref_area_level = 'country'
            order by g.series, geo.area_name, g.ref_area, g.time_period, g.group_code""")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def dbt_docs(url: str, cfg: Settings, complete: bool = True) -> tuple[str | None, str | None]:
    """Generate the dbt docs as one static page into ``<reports>/dbt_docs/index.html``; returns
    (path, None) or (None, why not). A failure here never hides the rest of the report. Docs
    generated on a complete night are kept until the dbt project changes."""
    from lnob import transform

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
    for path in sorted(p for p in project.rglob("*") if p.is_file()
                       and not {"target", "logs", "dbt_packages"} & set(p.relative_to(project).parts)):
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def collect(url: str, run_id: str, night: date, summary: dict, cfg: Settings | None = None,
            with_dbt_docs: bool = True) -> dict:
    """Everything the page shows, read as the pipeline's configured user (ledger, run log and the
    published marts)."""
    cfg = cfg or settings()
    reg = registry.load(cfg.registry_path)
    with warehouse.connect(url) as conn:
        data = {"summary": summary, "freshness": freshness(conn, reg, night),
                "quarantines": quarantines(conn, run_id), "gates": gate_details(conn, run_id),
                "gap": lnob_gap(conn)}
    data["data_docs"] = gates.data_docs_index(cfg)
    data["dbt_docs"], data["dbt_docs_problem"] = dbt_docs(url, cfg, bool(summary.get("complete"))) if with_dbt_docs else (None, "not generated")
    return data


# --------------------------------------------------------------------------------------------
# Charts: inline SVG, one per series; per country and group three bars with their intervals

BAR_KINDS = (("group", "Group"), ("rest", "Rest of sample"), ("official", "Official (national)"))
LABEL_W, PLOT_W, RIGHT_W, BAR_H, BAR_GAP, ROW_GAP, TOP = 300, 440, 190, 12, 3, 14, 34


def _x(value: float, scale: float) -> float:
    return LABEL_W + max(0.0, min(value, scale)) / scale * PLOT_W


def gap_chart(series: str, rows: list[dict]) -> str:
    """One series: for every country x group, bars for the group, the rest of the sample and the
    official value (percent), whiskers for the 95% intervals; suppressed / missing values said."""
    values = [r.get(f"{k}_{s}") for r in rows for k, _ in BAR_KINDS for s in ("value", "upper_bound")]
    scale = max([100.0] + [float(v) for v in values if v is not None])
    block = 3 * BAR_H + 2 * BAR_GAP
    height = TOP + len(rows) * (block + ROW_GAP) + 10
    width = LABEL_W + PLOT_W + RIGHT_W
    out = [f'<svg class="gap-chart" data-series="{_e(series)}" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="LNOB gap for {_e(series)}">']
    for tick in range(0, int(scale) + 1, 25):
        x = _x(tick, scale)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 8}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{TOP - 10}" text-anchor="middle">{tick}%</text>')
    y = TOP
    for r in rows:
        label = f"{r.get('area_name') or r['ref_area']} · {r['group_label'] or r['group_code']}"
        attrs = (f'data-series="{_e(series)}" data-area="{_e(r["ref_area"])}" '
                 f'data-group="{_e(r["group_code"])}" data-period="{_e(r["time_period"])}"')
        out.append(f'<g class="gap-row" {attrs}>')
        out.append(f'<text class="row-label" x="{LABEL_W - 8}" y="{y + block / 2 + 4:.1f}" '
                   f'text-anchor="end">{_e(label)}</text>')
        for i, (kind, name) in enumerate(BAR_KINDS):
            by = y + i * (BAR_H + BAR_GAP)
            value = r.get(f"{kind}_value")
            if value is None:
                why = ("suppressed (small cell)" if kind == "group" and r.get("group_obs_status") == "Q"
                       else "no official value" if kind == "official" else "no value")
                out.append(f'<text class="missing missing-{kind}" x="{LABEL_W + 4}" y="{by + BAR_H - 2}">'
                           f'{_e(name)}: {_e(why)}</text>')
                continue
            x0 = _x(0, scale)
            w = max(_x(float(value), scale) - x0, 1.0)
            tip = f"{name}: {float(value):.1f}%"
            lo, hi = r.get(f"{kind}_lower_bound"), r.get(f"{kind}_upper_bound")
            if lo is not None and hi is not None:
                tip += f" (95% interval {float(lo):.1f}–{float(hi):.1f})"
            out.append(f'<rect class="bar bar-{kind}" {attrs} data-kind="{kind}" data-value="{float(value):.2f}" '
                       f'x="{x0:.1f}" y="{by}" width="{w:.1f}" height="{BAR_H}"><title>{_e(tip)}</title></rect>')
            if lo is not None and hi is not None:
                xl, xh, ym = _x(float(lo), scale), _x(float(hi), scale), by + BAR_H / 2
                out.append(f'<path class="ci ci-{kind}" d="M{xl:.1f},{by + 2}V{by + BAR_H - 2}M{xl:.1f},{ym}'
                           f'H{xh:.1f}M{xh:.1f},{by + 2}V{by + BAR_H - 2}"/>')
            out.append(f'<text class="value" x="{LABEL_W + PLOT_W + 6}" y="{by + BAR_H - 2}">'
                       f'{float(value):.1f}%</text>')
        if r.get("official_has_group_breakdown") is False:
            out.append(f'<text class="knowledge-gap" x="{LABEL_W + PLOT_W + 54}" y="{y + 2 * (BAR_H + BAR_GAP) + BAR_H - 2}">'
                       'no official breakdown</text>')
        out.append("</g>")
        y += block + ROW_GAP
    out.append("</svg>")
    return "".join(out)


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
    return (f"<b>{_e(f.get('table'))}</b>: {_e(f.get('expectation'))}"
            + (f"({_e(f.get('column'))})" if f.get("column") else "")
            + (f" — “{_e(f.get('description'))}”" if f.get("description") else "")
            + (f"; unexpected: {_e(f.get('unexpected_count'))}" if f.get("unexpected_count") is not None else "")
            + (f"; sample: <code>{_e(sample)}</code>" if sample not in (None, [], "") else "")
            + (f"; error: {_e(f.get('exception'))}" if f.get("exception") else ""))


def _failed_items(failed: list[dict]) -> str:
    return "<ul>" + "".join(f"<li class='failed-expectation'>{_failed_item(f)}</li>" for f in failed) + "</ul>" \
        if failed else ""


def _gate_rows(gates_: list[dict]) -> str:
    rows = []
    for g in gates_:
        detail = _failed_items(g["failed"])
        if g.get("error"):
            detail += f"<pre>{_e(g['error'])}</pre>"
        what = "mart gate" if g["stage"] == "gate_marts" else "raw gate"
        rows.append(f'<tr class="gate-row gate-{_e(g["outcome"])}" data-stage="{_e(g["stage"])}" '
                    f'data-outcome="{_e(g["outcome"])}"><td>{what}</td><td>{_e(g["subject"])}</td>'
                    f"<td>{_badge(g['outcome'])}</td><td>{detail}</td></tr>")
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
    mart_state = ("not run tonight" if not marts else
                  "passed" if all(g["outcome"] == "passed" for g in marts) else "FAILED")
    out = [f"<p>Mart gate (dbt mart tests and the Great Expectations mart suites): <b>{_e(mart_state)}</b>. "
           f"Raw gates (one per delivery): {len(raw)}, {len(raw_failed)} failed.</p>",
           "<table id='gates'>" + _gate_rows(marts + raw_failed) + "</table>"]
    if raw_passed:
        out.append(f"<details><summary>{len(raw_passed)} raw gates passed</summary>"
                   f"<table id='gates-passed'>{_gate_rows(raw_passed)}</table></details>")
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
        for src, info in sorted(summary.get("sources", {}).items()))
    refused = ex.get("rejected") or []
    refused_html = ("" if not refused else
                    f"<p>Refused in the landing folder, never read ({_e(ex.get('rejected_total', len(refused)))}):</p>"
                    "<ul id='refused'>" + "".join(f"<li><code>{_e(safe_name(r.get('path'), 400))}</code>: "
                                                  f"{_e(safe_name(r.get('reason')))}</li>" for r in refused[:50])
                    + "</ul>")
    return (f"<p>{_e(ex.get('new', 0))} new deliveries, {_e(ex.get('already_loaded', 0))} already loaded.</p>"
            "<table id='sources'><tr><th>source</th><th>deliveries</th><th>rows loaded</th><th>duplicates</th>"
            "<th>quarantined</th><th>submissions</th><th>rejected by reviewers (not counted)</th>"
            "<th>submissions quarantined alone</th></tr>"
            + (rows or "<tr><td colspan=8>No new deliveries tonight.</td></tr>")
            + "</table>" + refused_html)


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
        f"<td><ul>{''.join(f'<li>{_e(w)}</li>' for w in h['why'])}</ul></td></tr>" for h in held)
    return ("<table id='held-back'><tr><th>source</th><th>delivery</th><th>why</th></tr>" + rows + "</table>"
            "<p class='muted'>The other partners published. Fix the registry (map the code, declare the column), "
            "then <code>lnob quarantine retry &lt;id&gt;</code>.</p>")


def _quarantines(data: dict) -> str:
    qs = data["quarantines"]
    if not qs:
        return "<p>Nothing was quarantined tonight.</p>"
    rows = []
    for q in qs:
        problems = "".join(f"<li>{_problem(p)}</li>" for p in q["problems"])
        more = f" (first {len(q['problems'])} of {q['total']})" if q.get("total") and q["total"] > len(q["problems"]) else ""
        rows.append(f"<tr class='quarantine'><td>{_e(q['source_id'])}<br><span class='muted'>{_e(q['partner_id'])}</span></td>"
                    f"<td>{_e(q['file'])}<br><span class='muted'>{_e(q['delivery_date'])}</span></td>"
                    f"<td>{_e(q['kind'])}{_e(more)}<ul>{problems}</ul></td><td><code>{_e(q['path'])}</code></td></tr>")
    return ("<table id='quarantines'><tr><th>source</th><th>file</th><th>reason</th><th>kept at</th></tr>"
            + "".join(rows) + "</table><p class='muted'>Retry after a fix: <code>lnob quarantine retry &lt;id&gt;</code>"
            " (<code>lnob quarantine list</code> shows the ids).</p>")


def _freshness(data: dict, night: str) -> str:
    rows = []
    for p in data["freshness"]:
        status = {"no source": "no source"}.get(p["status"], p["status"])
        details = []
        for s in p["sources"]:
            if s["last_delivery_date"] is None:
                details.append(f"{_e(s['source_id'])} ({_e(s['cadence'])}): <b>never delivered</b>")
            elif s["stale"]:
                details.append(f"{_e(s['source_id'])} ({_e(s['cadence'])}): last {_e(s['last_delivery_date'])}, "
                               f"<b>{s['overdue_days']} day(s) overdue</b>")
            else:
                details.append(f"{_e(s['source_id'])} ({_e(s['cadence'])}): last {_e(s['last_delivery_date'])}")
        rows.append(f'<tr class="partner {_e(p["status"].replace(" ", ""))}" data-partner="{_e(p["partner_id"])}" '
                    f'data-status="{_e(p["status"])}"><td>{_e(p["partner_name"])}<br><span class="muted">'
                    f'{_e(p["partner_id"])} · {_e(p["kind"])}</span></td><td>{_e(", ".join(p["cadences"]) or "—")}</td>'
                    f'<td>{_e(p["last_delivery_date"] or "—")}</td><td>{_badge(status)}</td>'
                    f'<td>{"<br>".join(details) or "no source registered yet"}</td></tr>')
    stale = [p for p in data["freshness"] if p["status"] == "stale"]
    head = (f"<p><b>{len(stale)} partner(s) overdue</b> on {_e(night)}: "
            + _e(", ".join(p["partner_name"] for p in stale)) + ".</p>") if stale else \
        f"<p>Every delivering partner is within its cadence on {_e(night)}.</p>"
    return (head + "<p class='muted'>A source is overdue when its last loaded delivery is older than its "
            "cadence allows (daily 1 day, weekly 7, monthly 31, quarterly 92, yearly 366).</p>"
            "<table id='freshness'><tr><th>partner</th><th>cadence</th><th>last delivery</th><th>status</th>"
            "<th>sources</th></tr>" + "".join(rows) + "</table>")


def _charts(data: dict) -> str:
    rows = data["gap"]
    if not rows:
        return "<p>No published <code>marts.mart_lnob_gap</code> yet.</p>"
    by_series: dict[str, list[dict]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append(r)
    legend = ("<p class='legend'>" + "".join(
        f"<span><i style='background:{c}'></i>{n}</span>" for n, c in
        (("marginalised group", "#c0392b"), ("rest of the community sample", "#7f8c8d"),
         ("official national value", "#2471a3"))) + "<span>— 95% interval</span></p>")
    parts = [legend, "<p class='muted'>Country level, percent. First-level areas are in "
             "<code>marts.mart_lnob_gap</code> (ref_area_level = admin1). “no official breakdown”: official "
             "statistics never break this group out (the knowledge gap).</p>"]
    for series, srows in by_series.items():
        title = srows[0].get("series_name") or ""
        ind = srows[0].get("indicator_code")
        parts.append(f"<h3 id='gap-{_e(series)}'>{_e(series)}" + (f" ({_e(ind)})" if ind else "")
                     + f"</h3><p class='muted'>{_e(title)}</p>" + gap_chart(series, srows))
    return "".join(parts)


def _published(summary: dict) -> str:
    state = ("published tonight" if summary.get("published_tonight")
             else "NOT published tonight: marts unchanged")
    rows = "".join(f"<tr><td>marts.{_e(t)}</td><td class='num'>{n:,}</td></tr>"
                   for t, n in sorted((summary.get("published_tables") or {}).items()))
    ex = summary.get("exports") or {}
    files = "".join(f"<tr><td>{_e(name)}</td><td class='num'>{info.get('rows', 0):,}</td></tr>"
                    for name, info in sorted((ex.get("files") or {}).items()))
    return (f"<p>Schema <code>marts</code>: {_e(state)}.</p><table id='published'><tr><th>table</th><th>rows</th></tr>"
            + rows + "</table>" + (f"<p>Exports in <code>{_e(ex.get('dir'))}</code>:</p><table><tr><th>file</th>"
                                   f"<th>rows</th></tr>{files}</table>" if ex else ""))


def render(data: dict, base: Path) -> str:
    """The page; links are relative to ``base``, the folder the page is written to."""
    s = data["summary"]
    ok = s.get("complete")
    status = ("<div class='status ok'>Complete: every stage succeeded.</div>" if ok else
              "<div class='status failed'>Incomplete: " + _e("; ".join(s.get("problems") or [])) + "</div>")
    gx = _href(data.get("data_docs"), base)
    dbt = _href(data.get("dbt_docs"), base)
    links = [f"<li><a id='link-gx' href='{_e(gx)}'>Great Expectations Data Docs</a> (the validations of the gates)</li>"]
    if dbt:
        links.append(f"<li><a id='link-dbt' href='{_e(dbt)}'>dbt docs</a> (models, columns, tests and lineage)</li>")
    else:
        links.append(f"<li>dbt docs: {_e(data.get('dbt_docs_problem'))}; generate them with "
                     "<code>lnob dbt docs generate --static</code> (written to <code>.lnob/dbt/target/"
                     "static_index.html</code>)</li>")
    sections = [
        ("Gates", _gates(data)), ("Sources", _sources(s)), ("Held back", _held_back(s)),
        ("Quarantine", _quarantines(data)),
        ("Freshness per partner", _freshness(data, s["night"])), ("The LNOB gap", _charts(data)),
        ("Published", _published(s)), ("Documentation", "<ul>" + "".join(links) + "</ul>"),
    ]
    body = "".join(f"<section id='section-{_e(t.split()[-1].lower())}'><h2>{_e(t)}</h2>{html}</section>" for t, html in sections)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>LNOB nightly run {_e(s['night'])}</title><style>{CSS}</style></head><body>"
            f"<h1>LNOB nightly run, night of {_e(s['night'])}</h1><p class='muted'>run {_e(s['run_id'])}</p>"
            f"{status}{body}</body></html>\n")


def write(url: str, run_id: str, night: date, summary: dict, cfg: Settings | None = None,
          with_dbt_docs: bool = True) -> Path:
    """Write ``<reports>/<night>/report.html`` and ``<reports>/latest.html``; returns the first."""
    cfg = cfg or settings()
    data = collect(url, run_id, night, summary, cfg, with_dbt_docs)
    folder = cfg.reports_dir / night.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(render(data, folder), encoding="utf-8")
    (cfg.reports_dir / "latest.html").write_text(render(data, cfg.reports_dir), encoding="utf-8")
    return page
