{#- Statistics Canada's Open SDG platform: one CSV per indicator (`indicator_6-1-1.csv`), one row
    per observation, a blank breakdown cell meaning its total. The indicator comes from the file
    name; its series is the indicator's SDG series whose name the `Series` column gives (or the
    indicator's only series). Geography and GeoCode are provinces (ISO 3166-2 through the
    registry's area aliases), blank = Canada; a population group is one of the partnership's custom
    breakdowns (First Nations people living on reserve: indigenous peoples, C13). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('statcan_open_sdg') }}") }}
with

raw as (

    select
        raw.*,
        replace(substring(raw._file_name from 'indicator_([0-9]+-[0-9]+-[0-9]+)'), '-', '.') as indicator
    from {{ source('raw', 'statcan_open_sdg') }} as raw
    where {{ new_deliveries() }}

),

series as (

    select
        series.series_code,
        lower(series.series_name)                                         as series_name,
        indicator.code                                                    as indicator,
        count(*) over (partition by indicator.code)                       as series_of_indicator
    from {{ ref('sdg_series') }} as series
    cross join lateral unnest(string_to_array(series.indicators, ',')) as indicator(code)

),

coded as (

    select
        raw.*,
        coalesce(
            (select s.series_code from series as s
              where s.indicator = raw.indicator
                and (s.series_of_indicator = 1 or s.series_name = lower(trim(raw.series)))
              order by s.series_code limit 1),
            'UNMAPPED:' || coalesce(raw.indicator, raw._file_name))        as series_code,
        coalesce({{ recode('statcan_open_sdg', 'admin1', 'geo_code') }},
                 {{ recode('statcan_open_sdg', 'admin1', 'geography') }})  as area_code,
        {{ recode('statcan_open_sdg', 'population_group', 'population_group') }} as group_code
    from raw

)

select
    {{ delivery_lineage() }},
    'A'::text                                                                           as freq,
    'N'::text                                                                           as reporting_type,
    series_code                                                                         as series,
    coalesce(area_code, (select m49 from {{ ref('lnob_countries') }} where iso3 = 'CAN'))
                                                                                        as ref_area,
    coalesce({{ recode('statcan_open_sdg', 'sex', 'sex') }}, '_T')                      as sex,
    '_T'::text                                                                          as age,
    '_T'::text                                                                          as urbanisation,
    '_T'::text                                                                          as income_wealth_quantile,
    '_T'::text                                                                          as education_lev,
    '_T'::text                                                                          as occupation,
    coalesce((select g.cust_breakdown from {{ ref('lnob_custom_breakdowns') }} as g
               where g.group_code = coded.group_code), group_code, '_T')                as cust_breakdown,
    '_T'::text                                                                          as composite_breakdown,
    '_T'::text                                                                          as disability_status,
    '_T'::text                                                                          as activity,
    '_T'::text                                                                          as product,
    year::text                                                                          as time_period,
    value::double precision                                                             as obs_value,
    coalesce({{ recode('statcan_open_sdg', 'units', 'units') }},
             (select unit_measure from {{ ref('sdg_series') }} where series_code = coded.series_code))
                                                                                        as unit_measure,
    '0'::text                                                                           as unit_mult,
    'A'::text                                                                           as obs_status,
    'C'::text                                                                           as nature,
    null::double precision                                                              as lower_bound,
    null::double precision                                                              as upper_bound,
    ('Statistics Canada, Canadian Indicator Framework (Open SDG): ' || _file_name)::text
                                                                                        as source_detail,
    null::text                                                                          as comment_obs,
    {{ staging_version('statcan_open_sdg') }}                                           as staging_version
from coded
