{#- UN Statistics Division, Global SDG Indicators Database (API v1 `Series/Data` pages), one row
    per observation. The API speaks its own codes (BOTHSEX, ALLAGE, ALLAREA, PERCENT): recoded to
    the IAEG-SDGs DSD through the registry's code maps. The global database carries national totals
    and a few standard breakdowns only. A value that is not a number (`<5`, `NaN`, `>95`) is kept
    as a missing value (OBS_STATUS O) with the delivered text in COMMENT_OBS, never guessed. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('unsd_sdg_api') }}") }}
with

raw as (

    select * from {{ source('raw', 'unsd_sdg_api') }}
    where {{ new_deliveries() }}

),

typed as (

    select
        raw.*,
        case when trim(raw.value) ~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
             then trim(raw.value)::double precision end                                 as numeric_value
    from raw

)

select
    {{ delivery_lineage() }},
    'A'::text                                                                           as freq,
    coalesce(nullif(trim(reporting_type), ''), 'G')                                     as reporting_type,
    upper(trim(series))                                                                 as series,
    case when trim(geo_area_code) ~ '^[0-9]+$' then (trim(geo_area_code)::integer)::text
         else 'UNMAPPED:' || trim(geo_area_code) end                                    as ref_area,
    coalesce({{ recode('unsd_sdg_api', 'unsd_sex', 'sex') }}, '_T')                     as sex,
    coalesce({{ recode('unsd_sdg_api', 'unsd_age', 'age') }}, '_T')                     as age,
    coalesce({{ recode('unsd_sdg_api', 'unsd_location', 'urbanisation') }}, '_T')       as urbanisation,
    '_T'::text                                                                          as income_wealth_quantile,
    '_T'::text                                                                          as education_lev,
    '_T'::text                                                                          as occupation,
    '_T'::text                                                                          as cust_breakdown,
    '_T'::text                                                                          as composite_breakdown,
    '_T'::text                                                                          as disability_status,
    '_T'::text                                                                          as activity,
    '_T'::text                                                                          as product,
    trunc(time_period)::integer::text                                                   as time_period,
    numeric_value                                                                       as obs_value,
    {{ recode('unsd_sdg_api', 'unsd_units', 'units') }}                                 as unit_measure,
    '0'::text                                                                           as unit_mult,
    case when numeric_value is null then 'O' else 'A' end::text                         as obs_status,
    coalesce(nullif(trim(nature), ''), '_X')                                            as nature,
    lower_bound::double precision                                                       as lower_bound,
    upper_bound::double precision                                                       as upper_bound,
    ('UN Global SDG Indicators Database'
        || coalesce(': ' || nullif(trim(data_source), ''), ''))::text                   as source_detail,
    case when numeric_value is null
         then 'Value delivered as ' || quote_literal(coalesce(value, '')) || ', not a number' end::text
                                                                                        as comment_obs,
    {{ staging_version('unsd_sdg_api') }}                                               as staging_version
from typed
