{#
  Small-cell suppression.

  Primary (`primary_suppression`): a cell whose unweighted numerator or denominator is below
  LNOB_MIN_CELL (var `min_cell`, default 10) is suppressed ('primary'); so is a cell at 0% or 100%
  (no one or everyone in the group) with fewer than LNOB_SDC_EXTREME_MIN_N respondents (var
  `sdc_extreme_min_n`, default 50, true or published n): publishing it would tell something about
  every member of a small group ('extreme'). With survey weights and perturbed counts a cell whose
  counts are not at 0 or n can still publish 0.00 or 100.00 (the other respondents' weights are
  small, or the perturbed numerator reaches the perturbed total): when the published proportion
  `p` is given, a cell it rounds to 0% or 100% is 'extreme' too.

  Secondary: a suppressed cell must not be recoverable from its total and its published siblings
  (the total's n and value are the n-weighted sum of its members'). Cells form two kinds of
  family, each with a total:
    - the members of one breakdown family in one area and year (F, M under the area's total; C01,
      C02 under it; PD, PWD under it ...);
    - the same breakdown cell across a country's first-level areas, under the country's cell.
  One pass suppresses, in every family,
    - the smallest published member when the total is published and exactly one member is
      suppressed (it could be computed as total minus the others);
    - the smallest published member when the total is published and what it leaves hidden (the
      total minus its published members: the suppressed members and the persons with no code,
      together) would itself fail the primary rule: an intruder computes that remainder, and a
      small one pins every suppressed member near 0 (7.23% x 415 - 11.81% x 254 = 0 ultra-poor);
    - the smallest member when the total is suppressed and every member is published (the total
      could be computed from them, and then any suppressed cell it totals).
    - any published cell with the same respondents as a suppressed one (same n, numerator and
      weighted sums in the same area and year: refugees as CUST_BREAKDOWN C09 and as migrants in
      COMPOSITE_BREAKDOWN, or an area where everyone is rural and its total).
  Passes repeat (`passes`) until nothing changes; the singular test
  `assert_secondary_suppression_complete` fails if a family is still exposed.
#}

{% macro primary_suppression(n, n_numerator, n_published, n_numerator_published, p=none) -%}
    case
        when {{ n }} < {{ var('min_cell') }} or {{ n_numerator }} < {{ var('min_cell') }} then 'primary'
        -- true or published (perturbation may round a near-100% cell up to 100%) at 0% or 100%,
        -- or a published value that rounds (2 decimals, as the marts publish it) to 0 or 100
        when ({{ n_numerator }} = 0 or {{ n_numerator }} = {{ n }}
              or {{ n_numerator_published }} = 0 or {{ n_numerator_published }} = {{ n_published }}
              {%- if p is not none %}
              or round((100 * {{ p }})::numeric, 2) in (0, 100)
              {%- endif %})
             and least({{ n }}, coalesce({{ n_published }}, {{ n }})) < {{ var('sdc_extreme_min_n') }}
            then 'extreme'
    end
{%- endmacro %}

{#- The part of a published total its published members leave hidden fails the primary rule. -#}
{% macro hidden_remainder_fails(total, family) -%}
    ({{ primary_suppression(total ~ '.n - ' ~ family ~ '.n_shown', total ~ '.n_numerator - ' ~ family ~ '.n_numerator_shown',
                            total ~ '.n - ' ~ family ~ '.n_shown', total ~ '.n_numerator - ' ~ family ~ '.n_numerator_shown') }}) is not null
{%- endmacro %}

{% macro exposed_members(cells) -%}
    -- breakdown families within an area and year
    (select distinct on (m.series, m.ref_area, m.time_period, m.family) m.cell_id
    from {{ cells }} as m
    join {{ cells }} as t
      on t.series = m.series and t.ref_area = m.ref_area and t.time_period = m.time_period
     and t.dimension = '_T'
    join (
        select series, ref_area, time_period, family, count(*) filter (where suppressed) as n_suppressed,
               coalesce(sum(n) filter (where not suppressed), 0) as n_shown,
               coalesce(sum(n_numerator) filter (where not suppressed), 0) as n_numerator_shown
        from {{ cells }} where dimension <> '_T'
        group by series, ref_area, time_period, family
    ) as f
      on f.series = m.series and f.ref_area = m.ref_area and f.time_period = m.time_period
     and f.family = m.family
    where m.dimension <> '_T' and not m.suppressed
      and ((not t.suppressed and f.n_suppressed = 1) or (t.suppressed and f.n_suppressed = 0)
           or (not t.suppressed and f.n_suppressed > 0
               and {{ hidden_remainder_fails('t', 'f') }}))
    order by m.series, m.ref_area, m.time_period, m.family, m.n, m.code)

    union

    -- the same cell across a country's first-level areas
    (select distinct on (m.series, m.country_m49, m.time_period, m.family, m.code) m.cell_id
    from {{ cells }} as m
    join {{ cells }} as t
      on t.series = m.series and t.ref_area = m.country_m49 and t.time_period = m.time_period
     and t.family = m.family and t.code = m.code
    join (
        select series, country_m49, time_period, family, code,
               count(*) filter (where suppressed) as n_suppressed,
               coalesce(sum(n) filter (where not suppressed), 0) as n_shown,
               coalesce(sum(n_numerator) filter (where not suppressed), 0) as n_numerator_shown
        from {{ cells }} where area_level = 'admin1'
        group by series, country_m49, time_period, family, code
    ) as f
      on f.series = m.series and f.country_m49 = m.country_m49 and f.time_period = m.time_period
     and f.family = m.family and f.code = m.code
    where m.area_level = 'admin1' and not m.suppressed
      and ((not t.suppressed and f.n_suppressed = 1) or (t.suppressed and f.n_suppressed = 0)
           or (not t.suppressed and f.n_suppressed > 0
               and {{ hidden_remainder_fails('t', 'f') }}))
    order by m.series, m.country_m49, m.time_period, m.family, m.code, m.n, m.ref_area)

    union

    -- twins: the same respondents under another code
    (select m.cell_id
    from {{ cells }} as m
    join {{ cells }} as twin
      on twin.series = m.series and twin.ref_area = m.ref_area and twin.time_period = m.time_period
     and twin.n = m.n and twin.n_numerator = m.n_numerator
     and twin.sum_w = m.sum_w and twin.sum_wy = m.sum_wy
    where twin.suppressed and not m.suppressed)
{%- endmacro %}
