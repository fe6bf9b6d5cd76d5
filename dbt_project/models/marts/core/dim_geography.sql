{#- Reference areas of the published observations: the partnership's countries (REF_AREA = UN M49)
    and their first-level areas (ISO 3166-2, an LNOB extension of CL_AREA), each with its country,
    so a BI tool can roll areas up to countries. -#}
with

countries as (

    select
        m49                        as ref_area,
        'country'::text            as ref_area_level,
        country_name               as area_name,
        iso3                       as country_iso3,
        m49                        as country_m49,
        country_name
    from {{ ref('lnob_countries') }}

),

areas as (

    select
        areas.area_code            as ref_area,
        'admin1'::text             as ref_area_level,
        areas.area_name,
        areas.iso3                 as country_iso3,
        countries.m49              as country_m49,
        countries.country_name
    from {{ ref('lnob_areas') }} as areas
    join {{ ref('lnob_countries') }} as countries on countries.iso3 = areas.iso3

),

published as (

    select ref_area, count(*) as observations from {{ ref('fct_sdg_observation') }} group by ref_area

),

final as (

    select
        geo.ref_area::text                                   as ref_area,
        geo.ref_area_level::text                             as ref_area_level,
        geo.area_name::text                                  as area_name,
        geo.country_iso3::text                               as country_iso3,
        geo.country_m49::text                                as country_m49,
        geo.country_name::text                               as country_name,
        coalesce(published.observations, 0)::bigint          as observations
    from (select * from countries union all select * from areas) as geo  -- noqa: LT11
    left join published on published.ref_area = geo.ref_area

)

select * from final
