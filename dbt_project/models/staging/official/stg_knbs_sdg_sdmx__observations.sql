{#- Kenya National Bureau of Statistics: SDMX-ML against the IAEG-SDGs DSD, one row per
    observation. Already coded in the DSD, so the dimensions are taken as delivered (trimmed; a
    dimension left out of the series key is its total `_T`); the mart gate checks every code
    against its codelist. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('knbs_sdg_sdmx') }}") }}
with

raw as (

    select * from {{ source('raw', 'knbs_sdg_sdmx') }}
    where {{ new_deliveries() }}

)

select
    {{ delivery_lineage() }},
    coalesce(nullif(trim(freq), ''), 'A')                                               as freq,
    coalesce(nullif(trim(reporting_type), ''), 'N')                                     as reporting_type,
    upper(trim(series))                                                                 as series,
    trim(ref_area)                                                                      as ref_area,
    {%- for dim in ['sex', 'age', 'urbanisation', 'income_wealth_quantile', 'education_lev', 'occupation',
                    'cust_breakdown', 'composite_breakdown', 'disability_status', 'activity', 'product'] %}
    coalesce(nullif(trim({{ dim }}), ''), '_T')                                         as {{ dim }},
    {%- endfor %}
    trim(time_period)                                                                   as time_period,
    obs_value::double precision                                                         as obs_value,
    coalesce(nullif(trim(unit_measure), ''), 'PT')                                      as unit_measure,
    coalesce(nullif(trim(unit_mult), ''), '0')                                          as unit_mult,
    coalesce(nullif(trim(obs_status), ''), 'A')                                         as obs_status,
    coalesce(nullif(trim(nature), ''), 'C')                                             as nature,
    null::double precision                                                              as lower_bound,
    null::double precision                                                              as upper_bound,
    ('Kenya National Bureau of Statistics, SDMX ' || _file_name)::text                  as source_detail,
    null::text                                                                          as comment_obs,
    {{ staging_version('knbs_sdg_sdmx') }}                                              as staging_version
from raw
