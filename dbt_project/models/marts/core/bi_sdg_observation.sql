{#- What a BI tool reads first: every published observation with its labels (series, indicator and
    goal; area and country; the group of a custom breakdown), one row per observation. A view in the
    published schema: it is built in the audit schema with the tables it reads and swapped with
    them, so it always shows the night its tables hold. It reads mart tables only (never a seed or
    an intermediate model): a view depending on anything outside its schema would be dropped by a
    seed reload's `drop ... cascade`, and publish refuses such a view. -#}
{{ config(materialized='view') }}
with

indicator as (

    select distinct on (series_code) series_code, indicator_code, series_name, goal_code, goal_short,
           is_national_series
    from {{ ref('dim_indicator') }}
    order by series_code, indicator_code

)

select
    fct.series,
    indicator.series_name,
    coalesce(indicator.is_national_series, false)      as is_national_series,
    indicator.indicator_code,
    indicator.goal_code,
    indicator.goal_short,
    fct.ref_area,
    fct.ref_area_level,
    geography.area_name,
    geography.country_iso3,
    geography.country_name,
    fct.time_period,
    fct.reporting_type,
    fct.sex,
    fct.age,
    fct.urbanisation,
    fct.disability_status,
    fct.composite_breakdown,
    fct.cust_breakdown,
    groups.label                                       as cust_breakdown_label,
    fct.obs_value,
    fct.lower_bound,
    fct.upper_bound,
    fct.unit_measure,
    fct.obs_status,
    fct.n,
    fct.source_type,
    fct.partners,
    fct.source_detail,
    fct.comment_obs
from {{ ref('fct_sdg_observation') }} as fct
left join indicator on indicator.series_code = fct.series
left join {{ ref('dim_geography') }} as geography on geography.ref_area = fct.ref_area
left join {{ ref('dim_custom_breakdown') }} as groups on groups.cust_breakdown = fct.cust_breakdown
