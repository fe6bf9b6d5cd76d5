{#- The community cells with primary and secondary small-cell suppression applied (see the macros
    `primary_suppression` and `exposed_members` for the rules). `suppression` says why a cell is
    hidden: 'primary' (fewer than LNOB_MIN_CELL respondents in numerator or denominator), 'extreme'
    (0% or 100% of a group of fewer than LNOB_SDC_EXTREME_MIN_N) or 'secondary' (it would have let
    a suppressed one be recomputed). The disclosure audit (lnob.transform.disclosure) then attacks the result
    with linear programming at the mart gate. -#}
{#- The passes are CTEs the planner has no statistics for; nested loops over them cost seconds. -#}
{{ config(pre_hook="set local enable_nestloop = off") }}
{%- set passes = 12 -%}
{%- set slim = 'cell_id, series, ref_area, area_level, country_m49, time_period, dimension, family, code, n, n_numerator, sum_w, sum_wy, n_published, n_numerator_published' -%}
with

cells as (

    select * from {{ ref('int_sdg_cells') }}

),

pass_0 as (

    select {{ slim }}, ({{ primary_suppression('n', 'n_numerator', 'n_published', 'n_numerator_published', 'p') }}) is not null as suppressed
    from cells

),
{% for i in range(1, passes + 1) %}
pass_{{ i }} as (

    select {{ slim }}, suppressed or cell_id in (
        {{ exposed_members('pass_' ~ (i - 1)) | indent(8) }}
    ) as suppressed
    from pass_{{ i - 1 }}

),
{% endfor %}

secondary as (

    select cell_id, suppressed from pass_{{ passes }}

),

final as (

    select
        cells.*,
        secondary.suppressed,
        coalesce({{ primary_suppression('cells.n', 'cells.n_numerator', 'cells.n_published', 'cells.n_numerator_published', 'cells.p') }},
                 case when secondary.suppressed then 'secondary' end)   as suppression
    from cells
    join secondary using (cell_id)

)

select * from final
