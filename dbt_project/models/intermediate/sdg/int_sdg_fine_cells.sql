{#- Responses summed to the finest cell (series x partner x area x year x every breakdown): the
    unweighted counts and the weighted sums every published estimate is built from. All sums are
    additive, so any coarser cell is a sum of fine cells (see int_sdg_cells). -#}
{#- Incremental: a night deletes the fine cells int_sdg_responses logged as changed and
    re-aggregates them from their responses (macros/sdg_delta.sql); a cell left with no response
    stays deleted. A full build of the responses logs every cell. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook=[
        "set local work_mem = '" ~ var('aggregate_work_mem') ~ "'",
        "{{ lnob_sdg_fine_cells_cleared(ref('int_sdg_responses').schema) }}",
    ],
    post_hook=[
        "create index if not exists {{ this.name }}__fine_cell on {{ this }} (fine_cell_id)",
        "truncate {{ lnob_sdg_changed_cells(ref('int_sdg_responses').schema) }}",
    ],
) }}

with

responses as (

    {% if is_incremental() %}
    select * from {{ ref('int_sdg_responses') }}
    where fine_cell_id in (select fine_cell_id from lnob_sdg_recompute)
    union all
    select * from {{ ref('int_sdg_responses') }}
    where (select every_cell from lnob_sdg_recompute_all)
    {% else %}
    select * from {{ ref('int_sdg_responses') }}
    {% endif %}

),

final as (

    select
        fine_cell_id,
        series,
        partner_id,
        country_m49,
        area_code,
        time_period,
        sex,
        age_group,
        urbanisation,
        disability_status,
        migrant_status,
        ethnicity_group,
        caste_group,
        displacement_group,
        poverty_group,
        count(*)::bigint                         as n,             -- unweighted denominator
        sum(y)::bigint                           as n_numerator,   -- unweighted numerator
        sum(survey_weight)                       as sum_w,
        sum(survey_weight * y)                   as sum_wy,
        sum(survey_weight ^ 2)                   as sum_w2,
        sum(perturbation_key)::bigint            as key_sum,           -- cell key method: record keys,
        sum(perturbation_key * y)::bigint        as key_sum_numerator  -- summed (mod in int_sdg_cells)
    from responses
    where country_m49 is not null and time_period is not null
    group by
        fine_cell_id, series, partner_id, country_m49, area_code, time_period, sex, age_group, urbanisation,
        disability_status, migrant_status, ethnicity_group, caste_group, displacement_group, poverty_group

)

select * from final
