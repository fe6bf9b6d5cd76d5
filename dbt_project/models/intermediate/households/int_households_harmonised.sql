{#- Households of the community surveys that collect household consumption and health spending
    (one row per household, from its members' latest records): size, monthly consumption per person,
    out-of-pocket health spending as a share of annual consumption (SDG 3.8.2) and whether the
    household is below the national poverty line (SDG 1.2.1). Households without consumption are
    kept with null shares: they count for nothing in those series. -#}
{#- analyze: a table created anew every night has no statistics until autovacuum comes by; the
    planner then hashes the million persons to join these households (int_sdg_responses) instead of
    the households. -#}
{{ config(
    pre_hook="set local work_mem = '" ~ var('aggregate_work_mem') ~ "'",
    post_hook="analyze {{ this }}",
) }}

with

members as (

    select * from {{ ref('int_persons_harmonised') }}
    where not is_rejected

),

households as (

    select
        source_id,
        household_pid,
        min(partner_id)                                        as partner_id,
        min(country_iso3)                                      as country_iso3,
        count(*)                                               as household_size,
        max(consumption_month)                                 as consumption_month,
        max(oop_health_12m)                                    as oop_health_12m,
        bool_or(disability_status = 'PD')                      as any_member_with_disability
    from members
    group by source_id, household_pid

),

final as (

    select
        households.*,
        households.consumption_month / households.household_size  as consumption_per_person_month,
        case when households.consumption_month > 0
             then households.oop_health_12m / (12 * households.consumption_month) end
                                                                   as health_share,
        lines.line_per_person_month                                as poverty_line,
        case when lines.line_per_person_month is not null and households.consumption_month is not null
             then households.consumption_month / households.household_size < lines.line_per_person_month end
                                                                   as below_poverty_line
    from households
    left join {{ ref('lnob_poverty_lines') }} as lines
        on lines.iso3 = households.country_iso3

)

select * from final
