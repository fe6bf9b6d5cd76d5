{#- Persons of every partner source in one shape: SDMX codes, Washington Group disability status,
    age group, survey weight, reference year. One row per person: a later delivery of the same
    respondent supersedes an earlier one. -#}
with

aavn as (

    select * from {{ ref('stg_aavn__persons') }}

),

unioned as (

    select
        person_pid, household_pid, partner_id, source_id, delivery_id, country_iso3, area_code,
        urbanisation, sex, ethnicity_group, age,
        wg_seeing, wg_hearing, wg_walking, wg_remembering, wg_selfcare, wg_communicating,
        safe_water, felt_discriminated, survey_weight, interview_date, delivery_date
    from aavn

),

latest as (

    select distinct on (partner_id, person_pid) *
    from unioned
    order by partner_id, person_pid, delivery_date desc, delivery_id desc

),

disability as (

    select
        latest.*,
        {{ wg_disability_status(['wg_seeing', 'wg_hearing', 'wg_walking', 'wg_remembering',
                                 'wg_selfcare', 'wg_communicating'], 'age') }} as disability_status
    from latest

)

select
    person_pid,
    household_pid,
    partner_id,
    source_id,
    delivery_id,
    '704'::text                                             as ref_area,  -- M49 of the country
    country_iso3,
    area_code,
    urbanisation,
    sex,
    case
        when age < 15 then 'Y0T14'
        when age < 25 then 'Y15T24'
        when age < 65 then 'Y25T64'
        else 'Y_GE65'
    end                                                     as age_group,
    age,
    coalesce(groups.cust_breakdown, ethnicity_group)        as cust_breakdown,
    disability_status,
    case safe_water when '1' then 1 when '0' then 0 end     as safe_water,
    case felt_discriminated when '1' then 1 when '0' then 0 end as felt_discriminated,
    survey_weight,
    extract(year from interview_date)::int::text           as time_period
from disability
left join {{ ref('lnob_custom_breakdowns') }} as groups
    on groups.group_code = disability.ethnicity_group
