"""Disclosure audit: judge the suppression by attacking it, as tau-argus and sdcTable do.

An intruder holds everything published tonight (the audit schema, read before publication, as the
BI reader will read it): every published value and its n, the rest of a group in the LNOB gap, the
sample sizes of the evidence map, and the structure of the tables (first-level areas sum to the
country, the categories of a breakdown sum to its total) and the facts that counts are
non-negative and a numerator is at most its denominator. For every suppressed cell two linear
programmes give the smallest and the largest numerator consistent with all of that, and two more
its denominator. A cell whose interval is narrower than the required protection
(``LNOB_SDC_PROTECTION``, default half of ``LNOB_MIN_CELL``) is *exposed*, whatever the
suppression rule said: the mart gate fails and names it (series, area, breakdown, period; never
a number of persons).

What the intruder can know, written as constraints on the true counts of every community cell
(``y`` numerator, ``n`` denominator):

- a published cell: ``n`` within ``D`` of its published n, where ``D`` is the largest perturbation
  of the cell key method (``reference.lnob_ptable``; 0 without perturbation); for an unweighted
  cell also ``y`` within ``D`` of value x n / 100 (value rounded to 2 decimals). A weighted cell's
  value does not give its unweighted numerator, so it adds no constraint on ``y``;
- the same for the group and its rest in ``fct_lnob_gap`` (rest = total - group) and for the
  sample size in ``fct_evidence_map`` (the country cell of the group; a group flagged below the
  minimum has 1 .. min_cell - 1 respondents);
- additivity with an unknown remainder: a total = its members + the persons with an unknown code,
  where (and only where) such persons exist; the country = its first-level areas + the persons
  with no area, likewise. Where everyone has a code the intruder is assumed to know it (the
  conservative choice);
- ``0 <= y <= n``.

The programmes are solved per linked table (series x country x period: every area and breakdown of
it), never as one system, with HiGHS (``highspy``): each linked table is given to the solver once
and each programme changes only its objective.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix

from lnob.platform.config import AUDIT_SCHEMA, INTERMEDIATE_SCHEMA, Settings, settings

log = logging.getLogger(__name__)

#: Published values are rounded to 2 decimals (percent); a little more for the float round trip.
VALUE_HALF_STEP = 0.00501
BREAKDOWN_COLUMNS = ("sex", "urbanisation", "disability_status", "composite_breakdown", "cust_breakdown")
UNIVERSE_AGE = {"SG_REG_BRTH": "Y0T4", "VC_VOV_GDSD": "Y_GE15"}
#: the `family` of a fct breakdown column (CUST_BREAKDOWN families come from the codelist)
FAMILY = {
    "sex": "sex",
    "age": "age",
    "urbanisation": "urbanisation",
    "disability_status": "disability_status",
    "composite_breakdown": "migrant_status",
}
GAP_FAMILY = {"DISABILITY_STATUS": "disability_status", "COMPOSITE_BREAKDOWN": "migrant_status"}


def protection(cfg: Settings | None = None) -> float:
    """The narrowest interval a suppressed cell's numerator or denominator may have."""
    cfg = cfg or settings()
    env = os.environ.get("LNOB_SDC_PROTECTION")
    return float(env) if env else math.ceil(cfg.min_cell / 2)


@dataclass
class Exposure:
    series: str
    ref_area: str
    time_period: str
    breakdown: str
    what: str  # "numerator" or "denominator"

    def describe(self) -> str:
        return f"{self.series} {self.ref_area} {self.time_period} {self.breakdown}: {self.what}"


@dataclass
class AuditResult:
    protection: float
    perturbation: int
    suppressed: int = 0
    components: int = 0
    linear_programmes: int = 0
    seconds: float = 0.0
    exposed: list[Exposure] = field(default_factory=list)
    #: suppressed cells whose numerator the intruder pins to a single integer
    recovered_exactly: list[Exposure] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.exposed and not self.inconsistent

    def describe(self, limit: int = 50) -> str:
        head = (
            f"disclosure audit: {self.suppressed} suppressed cells in {self.components} linked tables, "
            f"{self.linear_programmes} linear programmes in {self.seconds:.1f} s "
            f"(protection {self.protection:g}, perturbation D={self.perturbation})"
        )
        if self.success:
            return head + ": no cell exposed"
        lines = [head + f": {len(self.exposed)} EXPOSED (interval narrower than the protection)"]
        lines += [f"  - {e.describe()}" for e in self.exposed[:limit]]
        if len(self.exposed) > limit:
            lines.append(f"  ... and {len(self.exposed) - limit} more")
        lines += [f"  - linked table without a consistent solution: {c}" for c in self.inconsistent[:limit]]
        return "\n".join(lines)


def _fetch(cur, sql: str, params: dict | None = None) -> list[dict]:
    cur.execute(sql, params or {})
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=False)) for r in cur.fetchall()]


def _has_table(cur, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f"{schema}.{table}",))
    return cur.fetchone()[0]


class _Cells:
    """Variables of the linked tables: two per cell (y, n) and per remainder."""

    def __init__(self) -> None:
        self.index: dict[tuple, int] = {}
        self.component: list[tuple] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def var(self, key: tuple, component: tuple) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.lower)
            self.component.append(component)
            self.lower.append(0.0)
            self.upper.append(math.inf)
        return i

    def bound(self, i: int, lo: float, hi: float) -> None:
        self.lower[i] = max(self.lower[i], lo)
        self.upper[i] = min(self.upper[i], hi)


#: Programmes with random signs over a linked table's suppressed cells, solved before each cell's own.
SPREAD_PROGRAMMES = 10
#: :meth:`_LinkedTable.solve` of a programme with no finite optimum.
_UNBOUNDED = object()


class _LinkedTable:
    """The constraints of one linked table, given to HiGHS once; each programme changes only the
    objective, so the solver starts from the last optimal basis (a few pivots, not a new solve)."""

    def __init__(self, a_eq, a_ub, b_ub, lower, upper) -> None:
        import highspy
        from scipy.sparse import vstack

        self.solved = 0
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("presolve", "off")  # keeps the basis between objectives
        inf = highspy.kHighsInf
        matrix = vstack([a_eq, a_ub]).tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
        lp.col_cost_ = np.zeros(lp.num_col_)
        lp.col_lower_ = np.asarray(lower, dtype=float)
        lp.col_upper_ = np.where(np.isinf(upper), inf, upper).astype(float)
        lp.row_lower_ = np.concatenate([np.zeros(a_eq.shape[0]), np.full(a_ub.shape[0], -inf)])
        lp.row_upper_ = np.concatenate([np.zeros(a_eq.shape[0]), np.asarray(b_ub, dtype=float)])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = matrix.indptr
        lp.a_matrix_.index_ = matrix.indices
        lp.a_matrix_.value_ = matrix.data
        self.highs.passModel(lp)
        self.all_columns = np.arange(lp.num_col_, dtype=np.int32)
        self.status = highspy.HighsModelStatus

    def solve(self, objective: np.ndarray):
        """Minimise ``objective``: (value, solution), :data:`_UNBOUNDED`, or None if no solution
        satisfies the constraints."""
        self.highs.changeColsCost(len(self.all_columns), self.all_columns, objective.astype(float))
        self.highs.run()
        self.solved += 1
        status = self.highs.getModelStatus()
        if status == self.status.kOptimal:
            return self.highs.getInfo().objective_function_value, np.array(self.highs.getSolution().col_value)
        if status == self.status.kInfeasible:
            return None
        if status in (self.status.kUnbounded, self.status.kUnboundedOrInfeasible):
            # the first programme has no objective, so it cannot be unbounded: the constraints
            # have no solution; after it they had one, so the objective has no finite optimum
            return None if self.solved == 1 else _UNBOUNDED
        raise RuntimeError(f"disclosure audit: HiGHS ended with {self.highs.modelStatusToString(status)}")


def audit(
    conn,
    cfg: Settings | None = None,
    schema: str = AUDIT_SCHEMA,
    protection_level: float | None = None,
    perturbation: int | None = None,
) -> AuditResult:
    """Attack tonight's marts in ``schema``; see the module docstring. ``perturbation`` overrides
    the ptable's D (0: as if the published counts were exact)."""
    cfg = cfg or settings()
    started = time.monotonic()
    prot = protection(cfg) if protection_level is None else protection_level
    with conn.cursor() as cur:
        if perturbation is not None:
            pass
        elif _has_table(cur, "reference", "lnob_ptable"):
            cur.execute("select coalesce(max(abs(noise)), 0) from reference.lnob_ptable")
            perturbation = int(cur.fetchone()[0])
        else:
            perturbation = 0
        families = dict(
            _fetch_pairs(cur, "select cust_breakdown, dimension from reference.lnob_custom_breakdowns")
        )
        group_to_cust = dict(
            _fetch_pairs(cur, "select group_code, cust_breakdown from reference.lnob_custom_breakdowns")
        )
        country_of = dict(_fetch_pairs(cur, f"select ref_area, country_m49 from {schema}.dim_geography"))
        published = _fetch(
            cur,
            f"""
            select series, ref_area, time_period, sex, age, urbanisation, disability_status,
                   composite_breakdown, cust_breakdown, obs_value, n, obs_status
            from {schema}.fct_sdg_observation where source_type = 'community'""",
        )
        gap = _fetch(
            cur,
            f"""
            select series, ref_area, time_period, group_dimension, group_code, group_value, group_n,
                   rest_value, rest_n
            from {schema}.fct_lnob_gap where group_n is not null or rest_n is not null""",
        )
        evidence = _fetch(
            cur,
            f"""
            select series, country_m49, time_period, group_dimension, group_code, sample_size,
                   sample_size_below_minimum
            from {schema}.fct_evidence_map where sample_size is not null or sample_size_below_minimum""",
        )
        # What the defender knows and the intruder might: which cells are unweighted (their value
        # gives the numerator) and where persons with an unknown code or area exist.
        truth = _fetch(
            cur,
            f"""
            select series, ref_area, area_level, country_m49, time_period, family, code, n,
                   (sum_w = n and sum_w2 = n) as unweighted
            from {INTERMEDIATE_SCHEMA}.int_sdg_cells_suppressed""",
        )

    def cell_key(series, ref_area, period, family, code) -> tuple:
        return (series, ref_area, str(period), family, code)

    true_n: dict[tuple, int] = {}
    unweighted: dict[tuple, bool] = {}
    for t in truth:
        code = group_to_cust.get(t["code"], t["code"]) if t["family"] not in FAMILY.values() else t["code"]
        k = cell_key(t["series"], t["ref_area"], t["time_period"], t["family"], code)
        true_n[k] = int(t["n"])
        unweighted[k] = bool(t["unweighted"])
        country_of.setdefault(t["ref_area"], t["country_m49"])

    def fct_key(r: dict) -> tuple:
        fam, code = "_T", "_T"
        if r["age"] != UNIVERSE_AGE.get(r["series"], "_T"):
            fam, code = "age", r["age"]
        for col in BREAKDOWN_COLUMNS:
            if r[col] != "_T":
                fam, code = (families.get(r[col], "cust") if col == "cust_breakdown" else FAMILY[col]), r[col]
        return cell_key(r["series"], r["ref_area"], r["time_period"], fam, code)

    cells = _Cells()
    D = perturbation
    suppressed: list[tuple] = []
    members: dict[tuple, list[tuple]] = defaultdict(list)  # (component, area, family) -> cell keys
    areas: dict[tuple, list[tuple]] = defaultdict(list)  # (component, family, code) -> admin1 cell keys
    keys: set[tuple] = set()

    def comp(k: tuple) -> tuple:
        return (k[0], country_of.get(k[1], k[1]), k[2])

    def bound_published(k: tuple, value, n, slack: int) -> None:
        c = comp(k)
        iy, in_ = cells.var((k, "y"), c), cells.var((k, "n"), c)
        if n is not None:
            cells.bound(in_, max(0, n - slack), n + slack)
            if value is not None and unweighted.get(k, True):
                cells.bound(
                    iy,
                    max(0.0, (value - VALUE_HALF_STEP) * n / 100 - slack),
                    (value + VALUE_HALF_STEP) * n / 100 + slack,
                )

    for r in published:
        k = fct_key(r)
        keys.add(k)
        c = comp(k)
        cells.var((k, "y"), c), cells.var((k, "n"), c)
        if r["obs_status"] == "Q" or r["n"] is None:
            suppressed.append(k)
        bound_published(k, r["obs_value"], r["n"], D)

    rest_constraints = []
    for g in gap:
        fam = GAP_FAMILY.get(g["group_dimension"]) or families.get(g["group_code"], "cust")
        k = cell_key(g["series"], g["ref_area"], g["time_period"], fam, g["group_code"])
        total = cell_key(g["series"], g["ref_area"], g["time_period"], "_T", "_T")
        if k not in keys or total not in keys:
            continue
        bound_published(k, g["group_value"], g["group_n"], D)
        if g["rest_n"] is not None:
            rest_constraints.append(
                (
                    k,
                    total,
                    g["rest_value"],
                    g["rest_n"],
                    unweighted.get(k, True) and unweighted.get(total, True),
                )
            )
    for e in evidence:
        fam = GAP_FAMILY.get(e["group_dimension"]) or families.get(e["group_code"], "cust")
        k = cell_key(e["series"], e["country_m49"], e["time_period"], fam, e["group_code"])
        if k in keys:
            bound_published(k, None, e["sample_size"], D)
            if e["sample_size_below_minimum"]:  # flagged: 1 .. min_cell - 1 respondents
                cells.bound(cells.var((k, "n"), comp(k)), 1, cfg.min_cell - 1)

    for k in keys:
        series, ref_area, period, fam, code = k
        c = comp(k)
        if fam != "_T":
            members[(c, ref_area, fam)].append(k)
        if ref_area != c[1]:
            areas[(c, fam, code)].append(k)

    # additivity: rows of A_eq x = 0
    rows, colsA, vals = [], [], []
    n_rows = 0

    def equation(total: tuple, parts: list[tuple], remainder_key: tuple | None) -> None:
        nonlocal n_rows
        c = comp(total)
        rem = {}
        if remainder_key is not None:
            rem = {w: cells.var((remainder_key, w), c) for w in ("y", "n")}
            rest_y_le_n.append((rem["y"], rem["n"]))
        for w in ("y", "n"):
            rows.append(n_rows)
            colsA.append(cells.var((total, w), c))
            vals.append(1.0)
            for p in parts:
                rows.append(n_rows)
                colsA.append(cells.var((p, w), c))
                vals.append(-1.0)
            if rem:
                rows.append(n_rows)
                colsA.append(rem[w])
                vals.append(-1.0)
            n_rows += 1

    rest_y_le_n: list[tuple[int, int]] = []
    for (c, ref_area, fam), parts in members.items():
        total = cell_key(c[0], ref_area, c[2], "_T", "_T")
        if total not in keys:
            continue
        unknown = true_n.get(total, 0) - sum(true_n.get(p, 0) for p in parts)
        equation(total, parts, ("unknown", total, fam) if unknown != 0 else None)
    for (c, fam, code), parts in areas.items():
        total = cell_key(c[0], c[1], c[2], fam, code)
        if total not in keys:
            continue
        unknown = true_n.get(total, 0) - sum(true_n.get(p, 0) for p in parts)
        equation(total, parts, ("no area", total) if unknown != 0 else None)

    # inequalities A_ub x <= b_ub: y <= n for every cell and remainder; the gap's rest
    ub_rows: list[int] = []
    ub_cols: list[int] = []
    ub_vals: list[float] = []
    b_ub: list[float] = []

    def inequality(coefs: list[tuple[int, float]], rhs: float) -> None:
        r = len(b_ub)
        for col, v in coefs:
            ub_rows.append(r)
            ub_cols.append(col)
            ub_vals.append(v)
        b_ub.append(rhs)

    for k in keys:
        inequality([(cells.index[(k, "y")], 1.0), (cells.index[(k, "n")], -1.0)], 0.0)
    for iy, in_ in rest_y_le_n:
        inequality([(iy, 1.0), (in_, -1.0)], 0.0)
    for k, total, value, rest_n, unw in rest_constraints:
        nt, ng = cells.index[(total, "n")], cells.index[(k, "n")]
        inequality([(nt, 1.0), (ng, -1.0)], rest_n + 2 * D)
        inequality([(nt, -1.0), (ng, 1.0)], -(rest_n - 2 * D))
        if value is not None and unw:
            yt, yg = cells.index[(total, "y")], cells.index[(k, "y")]
            inequality([(yt, 1.0), (yg, -1.0)], (value + VALUE_HALF_STEP) * rest_n / 100 + 2 * D)
            inequality([(yt, -1.0), (yg, 1.0)], -((value - VALUE_HALF_STEP) * rest_n / 100 - 2 * D))

    result = AuditResult(protection=prot, perturbation=D, suppressed=len(suppressed))
    n_vars = len(cells.lower)
    comp_of_var = cells.component
    var_ids: dict[tuple, list[int]] = defaultdict(list)
    for i, c in enumerate(comp_of_var):
        var_ids[c].append(i)
    A_eq = coo_matrix((vals, (rows, colsA)), shape=(n_rows, n_vars)).tocsr()
    A_ub = coo_matrix((ub_vals, (ub_rows, ub_cols)), shape=(len(b_ub), n_vars)).tocsr()
    b_ub_arr = np.array(b_ub)
    lower, upper = np.array(cells.lower), np.array(cells.upper)

    by_comp: dict[tuple, list[tuple]] = defaultdict(list)
    for k in suppressed:
        by_comp[comp(k)].append(k)
    result.components = len(by_comp)
    for c, targets in sorted(by_comp.items()):
        ids = np.array(var_ids[c])
        local = {g: i for i, g in enumerate(ids)}
        eq_rows = np.unique(A_eq[:, ids].nonzero()[0])
        ub_rows_c = np.unique(A_ub[:, ids].nonzero()[0])
        lp = _LinkedTable(
            A_eq[eq_rows][:, ids], A_ub[ub_rows_c][:, ids], b_ub_arr[ub_rows_c], lower[ids], upper[ids]
        )
        # Every solution is a point the intruder cannot rule out: the spread of the points seen so
        # far is a lower bound on each cell's interval, so a cell already seen spread by the
        # protection needs no programme of its own. A few programmes with random signs over all
        # the table's suppressed cells spread most of them at once; the rest get their own two.
        seen_lo = np.full(len(ids), math.inf)
        seen_hi = np.full(len(ids), -math.inf)
        inconsistent = lp.solve(np.zeros(len(ids))) is None
        cols = np.array([local[cells.index[(k, what)]] for k in targets for what in ("y", "n")])
        rng = np.random.default_rng(0)  # the same programmes every night for the same tables
        for _ in range(0 if inconsistent else SPREAD_PROGRAMMES):
            open_ = cols[seen_hi[cols] - seen_lo[cols] < prot]
            if not len(open_):
                break
            obj = np.zeros(len(ids))
            obj[open_] = rng.choice((-1.0, 1.0), len(open_))
            solution = lp.solve(obj)
            if solution is not None and solution is not _UNBOUNDED:
                seen_lo, seen_hi = np.minimum(seen_lo, solution[1]), np.maximum(seen_hi, solution[1])
        for k in targets:
            if inconsistent:
                break
            for what in ("y", "n"):
                j = local[cells.index[(k, what)]]
                low, high = 0.0, math.inf
                for sense in (1.0, -1.0):
                    if seen_hi[j] - seen_lo[j] >= prot:
                        break
                    obj = np.zeros(len(ids))
                    obj[j] = sense
                    solution = lp.solve(obj)
                    if solution is None:
                        inconsistent = True
                        break
                    if solution is _UNBOUNDED:  # no upper limit at all
                        seen_hi[j] = math.inf
                        continue
                    fun, x = solution
                    seen_lo, seen_hi = np.minimum(seen_lo, x), np.maximum(seen_hi, x)
                    if sense > 0:
                        low = fun
                    else:
                        high = -fun
                if inconsistent:
                    break
                if seen_hi[j] - seen_lo[j] >= prot:
                    continue
                exposure = Exposure(
                    k[0], k[1], k[2], _breakdown(k), "numerator" if what == "y" else "denominator"
                )
                result.exposed.append(exposure)
                if what == "y" and math.floor(high + 1e-6) - math.ceil(low - 1e-6) <= 0:
                    result.recovered_exactly.append(exposure)
        result.linear_programmes += lp.solved
        if inconsistent:
            result.inconsistent.append(f"{c[0]} {c[1]} {c[2]}")
    result.seconds = time.monotonic() - started
    log.info(result.describe())
    return result


def _breakdown(k: tuple) -> str:
    return "total" if k[3] == "_T" else f"{k[3]}={k[4]}"


def _fetch_pairs(cur, sql: str) -> list[tuple]:
    cur.execute(sql)
    return [tuple(r) for r in cur.fetchall()]


def gate_failures(
    warehouse_url: str, cfg: Settings | None = None, schema: str = AUDIT_SCHEMA
) -> tuple[list[dict], AuditResult]:
    """The audit of the audit schema as mart-gate failures (the shape of ``gates.GateResult.failed``):
    one entry naming the exposed cells (never a count of persons), none when all are protected."""
    from lnob.platform import warehouse

    with warehouse.connect(warehouse_url) as conn:
        result = audit(conn, cfg, schema=schema)
    if result.success:
        return [], result
    sample = [e.describe() for e in result.exposed[:5]] + result.inconsistent[:5]
    return [
        {
            "table": "fct_sdg_observation",
            "expectation": "disclosure_audit",
            "column": None,
            "description": (
                f"every suppressed cell's numerator and denominator keep an interval of at least "
                f"{result.protection:g} against a linear attack on everything published"
            ),
            "unexpected_count": len(result.exposed) + len(result.inconsistent),
            "sample": sample,
            "exception": None,
        }
    ], result
