{#- ActionAid Vietnam household survey: rename, cast, recode. Identifiers stop here: only the
    keyed-hash pseudonyms computed at load time go on. -#}
with

source as (

    select * from {{ source('raw', 'aavn_household_survey') }}

),

renamed as (

    select
        -- ids (pseudonymised; the raw ids, names and phone numbers are not selected)
        {{ pseudonym("person_id") }}                                    as person_pid,
        {{ pseudonym("household_id") }}                                 as household_pid,
        _delivery_id                                                    as delivery_id,
        _partner_id                                                     as partner_id,
        _source_id                                                      as source_id,

        -- codes
        'VNM'                                                           as country_iso3,
        {{ recode('aavn_household_survey', 'admin1', 'admin1') }}       as area_code,
        {{ recode('aavn_household_survey', 'urbanisation', 'urbanisation') }} as urbanisation,
        {{ recode('aavn_household_survey', 'sex', 'sex') }}             as sex,
        {{ recode('aavn_household_survey', 'ethnicity', 'ethnicity') }} as ethnicity_group,
        {{ recode('aavn_household_survey', 'yes_no', 'safe_water') }}         as safe_water,
        {{ recode('aavn_household_survey', 'yes_no', 'felt_discriminated') }} as felt_discriminated,

        -- numerics
        age::int                                                        as age,
        wg_seeing::int                                                  as wg_seeing,
        wg_hearing::int                                                 as wg_hearing,
        wg_walking::int                                                 as wg_walking,
        wg_remembering::int                                             as wg_remembering,
        wg_selfcare::int                                                as wg_selfcare,
        wg_communicating::int                                           as wg_communicating,
        weight::double precision                                        as survey_weight,

        -- timestamps
        interview_date::date                                            as interview_date,
        _delivery_date                                                  as delivery_date,
        _loaded_at                                                      as loaded_at

    from source

)

select * from renamed
