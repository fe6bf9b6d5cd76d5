{#- Voices: testimonies in people's own words that their speakers consented to publish and a person
    approved (int_testimonies_reviewed, lnob.transform.voices), with
    identifying details removed (names, phone numbers, e-mail addresses, id numbers: see
    `scrub_identifiers`), coded like the SDG observations: country as M49 (REF_AREA), first-level
    area as ISO 3166-2, the group in the same SDMX breakdown code as fct_sdg_observation
    (CUST_BREAKDOWN C01..C13, DISABILITY_STATUS PD, COMPOSITE_BREAKDOWN MS_MIGRANT / MS_NOMIGRANT
    for refugees and their hosts), and the year. -#}
with

testimonies as (

    select * from {{ ref('int_testimonies_reviewed') }}

),

groups as (

    select * from {{ ref('lnob_custom_breakdowns') }}

),

countries as (

    select * from {{ ref('lnob_countries') }}

),

final as (

    select
        testimonies.testimony_pid                                               as testimony_key,
        testimonies.partner_id,
        testimonies.source_id,
        countries.m49                                                           as country_m49,
        testimonies.country_iso3,
        testimonies.area_code,
        testimonies.theme,
        testimonies.voice_group,
        case
            when testimonies.voice_group = 'PD' then 'Persons with disability'
            else groups.label
        end                                                                     as group_label,
        coalesce(groups.cust_breakdown, '_T')                                   as cust_breakdown,
        case when testimonies.voice_group = 'PD' then 'PD' else '_T' end        as disability_status,
        -- Refugees and asylum seekers are international migrants (UN DESA), as in int_persons_harmonised.
        case testimonies.voice_group
            when 'DISP_REFUGEE' then 'MS_MIGRANT'
            when 'DISP_HOST' then 'MS_NOMIGRANT'
            else '_T'
        end                                                                     as composite_breakdown,
        testimonies.time_period,
        testimonies.language,
        testimonies.testimony_text
    from testimonies
    left join countries
        on countries.iso3 = testimonies.country_iso3
    left join groups
        on groups.group_code = testimonies.voice_group

)

select * from final
