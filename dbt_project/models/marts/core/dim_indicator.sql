{#- SDG series with the indicator(s), target and goal they measure, titles and unit, for BI tools
    to label and group observations. One row per series and indicator (a few series serve two
    indicators); the partnership's own `_L_LNOB_...` series are included with their method, and the
    series the registry declares beyond the vendored list (seed lnob_national_series): a producer's
    national `_L_<country>_...` series (is_national_series, with its country) and global series
    newer than that list. -#}
with

series as (

    select series_code, series_name, indicators, unit_measure, unit_mult, null::text as method,
           false as is_lnob_series, false as is_national_series, null::text as series_country_iso3
    from {{ ref('sdg_series') }}
    union all
    select series_code, series_name, indicators, unit_measure, unit_mult, method,
           true as is_lnob_series, false as is_national_series, null::text as series_country_iso3
    from {{ ref('lnob_series') }}
    union all
    select series_code, series_name, indicators, unit_measure, unit_mult, null::text as method,
           false as is_lnob_series, scope = 'national' as is_national_series,
           case when scope = 'national' then nullif(country_iso3, '') end as series_country_iso3
    from {{ ref('lnob_national_series') }}

),

series_indicator as (

    select series.*, trim(indicator.code) as indicator_code
    from series
    cross join lateral unnest(string_to_array(series.indicators, ',')) as indicator(code)

),

published as (

    select distinct series from {{ ref('fct_sdg_observation') }}

),

final as (

    select
        series_indicator.series_code::text                                        as series_code,
        series_indicator.indicator_code::text                                     as indicator_code,
        series_indicator.series_name::text                                        as series_name,
        indicators.indicator_title::text                                          as indicator_title,
        indicators.target_code::text                                              as target_code,
        targets.target_title::text                                                as target_title,
        indicators.goal_code::text                                                as goal_code,
        goals.goal_short::text                                                    as goal_short,
        goals.goal_title::text                                                    as goal_title,
        series_indicator.unit_measure::text                                       as unit_measure,
        units.name::text                                                          as unit_name,
        series_indicator.unit_mult::text                                          as unit_mult,
        series_indicator.is_lnob_series                                           as is_lnob_series,
        series_indicator.is_national_series                                       as is_national_series,
        series_indicator.series_country_iso3::text                                as series_country_iso3,
        series_indicator.method::text                                             as method,
        (published.series is not null)                                            as has_observations
    from series_indicator
    left join {{ ref('sdg_indicators') }} as indicators on indicators.indicator_code = series_indicator.indicator_code
    left join {{ ref('sdg_targets') }} as targets on targets.target_code = indicators.target_code
    left join {{ ref('sdg_goals') }} as goals on goals.goal_code = indicators.goal_code
    left join {{ ref('sdmx_codes') }} as units
        on units.codelist_id = 'CL_UNIT_MEASURE' and units.code = series_indicator.unit_measure
    left join published on published.series = series_indicator.series_code

)

select * from final
