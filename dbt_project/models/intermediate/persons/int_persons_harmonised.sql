{#- Persons of every community source, harmonised: the latest version of each record (a KoboToolbox
    or ODK edit, or a later delivery of the same respondent, replaces the earlier one; submissions
    the reviewers rejected are dropped), SDMX codes (REF_AREA as M49, sex, age group, urbanisation),
    Washington Group disability status, migrant status, survey weight and reference year. -#}
with

versions as (

    select * from {{ ref('int_persons_unioned') }}

),

latest as (

    select distinct on (source_id, record_key) *
    from versions
    order by source_id, record_key, record_version desc, delivery_id desc, row_number desc

),

coded as (

    select
        latest.*,
        {{ wg_disability_status(['wg_seeing', 'wg_hearing', 'wg_walking', 'wg_remembering',
                                 'wg_selfcare', 'wg_communicating'], 'age') }} as disability_status,
        {{ age_group('age') }}                                                   as age_group
    from latest
    where review_state is distinct from 'rejected'

)

select
    coded.person_pid,
    coded.household_pid,
    coded.partner_id,
    coded.source_id,
    coded.delivery_id,
    coded.country_iso3,
    countries.m49                                           as country_m49,
    coded.area_code,
    coded.urbanisation,
    coded.sex,
    coded.age,
    coded.age_group,
    coded.disability_status,
    -- Refugees and asylum seekers are international migrants (UN DESA); SDMX carries migrant
    -- status in COMPOSITE_BREAKDOWN.
    case coded.displacement_group
        when 'DISP_REFUGEE' then 'MS_MIGRANT'
        when 'DISP_HOST' then 'MS_NOMIGRANT'
    end                                                     as migrant_status,
    coded.ethnicity_group,
    coded.caste_group,
    coded.displacement_group,
    coded.poverty_group,
    coded.wg_seeing, coded.wg_hearing, coded.wg_walking,
    coded.wg_remembering, coded.wg_selfcare, coded.wg_communicating,
    coded.water_safe,
    coded.birth_registered,
    coded.felt_discriminated,
    coded.health_need,
    coded.health_access,
    coded.consumption_month,
    coded.oop_health_12m,
    coalesce(coded.survey_weight, 1.0)                      as survey_weight,
    coded.interview_date,
    extract(year from coded.interview_date)::int::text     as time_period
from coded
left join {{ ref('lnob_countries') }} as countries
    on countries.iso3 = coded.country_iso3
