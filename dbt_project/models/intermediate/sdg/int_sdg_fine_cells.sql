{#- Responses summed to the finest cell (series x partner x area x year x every breakdown): the
    unweighted counts and the weighted sums every published estimate is built from. All sums are
    additive, so any coarser cell is a sum of fine cells (see int_sdg_cells). -#}
{{ config(pre_hook="set local work_mem = '" ~ var('aggregate_work_mem') ~ "'") }}

with final as (

    select
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
    from {{ ref('int_sdg_responses') }}
    where country_m49 is not null and time_period is not null
    group by
        series, partner_id, country_m49, area_code, time_period, sex, age_group, urbanisation,
        disability_status, migrant_status, ethnicity_group, caste_group, displacement_group, poverty_group

)

select * from final
