{#- Persons of every community source, harmonised: the latest version of each record (a KoboToolbox
    or ODK edit, or a later delivery of the same respondent, replaces the earlier one; submissions
    the reviewers rejected are dropped), SDMX codes (REF_AREA as M49, sex, age group, urbanisation),
    Washington Group disability status, migrant status, survey weight and reference year.

    Incremental: a night recomputes only the records (source, record key) that have a newly staged
    version (a new delivery, or a source restaged after a code-map or key change), replacing their
    row (delete+insert on the key; the pre-hook persons_to_harmonise lists the records). A row whose
    delivery left the ledger (superseded, quarantined, unloaded) gives way to the record's latest
    version still loaded, or goes; `dbt build --full-refresh` recomputes everything. Rejected
    submissions are kept, flagged `is_rejected`, so that a rejection replaces an earlier accepted
    version; every estimate leaves them out. -#}
{{ config(
    materialized='incremental',
    unique_key=['source_id', 'record_key'],
    incremental_strategy='delete+insert',
    pre_hook=[
        "set local work_mem = '" ~ var('aggregate_work_mem') ~ "'",
        "{% if is_incremental() %}{{ persons_to_harmonise() }}{% endif %}",
    ],
    post_hook=[
        "delete from {{ this }} where delivery_id not in (select delivery_id from lnob_meta.delivery_ledger where status = 'loaded')",
        "create index if not exists {{ this.name }}__key on {{ this }} (source_id, record_key)",
        "create index if not exists {{ this.name }}__harmonised_at on {{ this }} (harmonised_at)",
    ]
) }}
with

versions as (

    select * from {{ ref('int_persons_unioned') }}
    {% if is_incremental() %}
    -- the records to harmonise again, listed and analyzed by the pre-hook (persons_to_harmonise)
    where (source_id, record_key) in (select source_id, record_key from int_persons_harmonised__changed)
    {% endif %}

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

),

final as (

    select
        coded.source_id,
        coded.record_key,
        coded.person_pid,
        coded.household_pid,
        coded.partner_id,
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
        coded.water_safe_set,
        coded.birth_registered,
        coded.felt_discriminated,
        coded.health_need,
        coded.health_access,
        coded.consumption_month,
        coded.oop_health_12m,
        coalesce(coded.survey_weight, 1.0)                      as survey_weight,
        coded.interview_date,
        extract(year from coded.interview_date)::int::text     as time_period,
        coalesce(coded.review_state = 'rejected', false)        as is_rejected,
        -- the person's record key of the cell key method (int_sdg_responses), a keyed hash of the
        -- pseudonymised id: computed once, when the record's version is harmonised, not every night
        {{ record_key_of_cell_key('coded.person_pid') }}            as perturbation_key,
        coded.staged_at,
        -- when this row was harmonised: the mart gate validates the rows harmonised since its last pass
        now()                                                   as harmonised_at
    from coded
    left join {{ ref('lnob_countries') }} as countries
        on countries.iso3 = coded.country_iso3

)

select * from final
