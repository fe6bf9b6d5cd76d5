{#- What a BI tool reads first: every published observation with its labels (series, indicator and
    goal; area and country; the group of a custom breakdown), one row per observation. A view in the
    published schema: it is built in the audit schema with the tables it reads and swapped with
    them, so it always shows the night its tables hold. It reads mart tables only (never a seed or
    an intermediate model): a view depending on anything outside its schema would be dropped by a
    seed reload's `drop ... cascade`, and publish refuses such a view. Every SDMX code has its label
    beside it (`<code>_label`, from dim_sdmx_code): `lnob_bi_reader`, which reads `marts` only,
    sees "Both sexes or no breakdown by sex" next to `_T`. -#}
{{ config(materialized='view') }}
with

indicator as (

    select distinct on (series_code) series_code, indicator_code, series_name, goal_code, goal_short,
           is_national_series
    from {{ ref('dim_indicator') }}
    order by series_code, indicator_code

),

labels as (

    select codelist_id, code, label from {{ ref('dim_sdmx_code') }}

),

final as (

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
        reporting_type_labels.label                        as reporting_type_label,
        fct.sex,
        sex_labels.label                                   as sex_label,
        fct.age,
        age_labels.label                                   as age_label,
        fct.urbanisation,
        urbanisation_labels.label                          as urbanisation_label,
        fct.disability_status,
        disability_status_labels.label                     as disability_status_label,
        fct.composite_breakdown,
        composite_breakdown_labels.label                   as composite_breakdown_label,
        fct.cust_breakdown,
        groups.label                                       as cust_breakdown_label,
        fct.obs_value,
        fct.lower_bound,
        fct.upper_bound,
        fct.unit_measure,
        unit_measure_labels.label                          as unit_measure_label,
        fct.obs_status,
        obs_status_labels.label                            as obs_status_label,
        (fct.obs_status = 'Q')                             as is_suppressed,
        fct.n,
        fct.source_type,
        fct.partners,
        fct.source_detail,
        fct.comment_obs
    from {{ ref('fct_sdg_observation') }} as fct
    left join indicator on indicator.series_code = fct.series
    left join {{ ref('dim_geography') }} as geography on geography.ref_area = fct.ref_area
    left join {{ ref('dim_custom_breakdown') }} as groups on groups.cust_breakdown = fct.cust_breakdown
    left join labels as reporting_type_labels
        on reporting_type_labels.codelist_id = 'CL_REPORTING_TYPE' and reporting_type_labels.code = fct.reporting_type
    left join labels as sex_labels
        on sex_labels.codelist_id = 'CL_SEX' and sex_labels.code = fct.sex
    left join labels as age_labels
        on age_labels.codelist_id = 'CL_AGE' and age_labels.code = fct.age
    left join labels as urbanisation_labels
        on urbanisation_labels.codelist_id = 'CL_URBANISATION' and urbanisation_labels.code = fct.urbanisation
    left join labels as disability_status_labels
        on disability_status_labels.codelist_id = 'CL_DISABILITY' and disability_status_labels.code = fct.disability_status
    left join labels as composite_breakdown_labels
        on composite_breakdown_labels.codelist_id = 'CL_COMP_BREAKDOWN' and composite_breakdown_labels.code = fct.composite_breakdown
    left join labels as unit_measure_labels
        on unit_measure_labels.codelist_id = 'CL_UNIT_MEASURE' and unit_measure_labels.code = fct.unit_measure
    left join labels as obs_status_labels
        on obs_status_labels.codelist_id = 'CL_OBS_STATUS' and obs_status_labels.code = fct.obs_status

)

select * from final
