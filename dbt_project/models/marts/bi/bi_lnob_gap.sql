{#- The LNOB gap as a BI tool reads it: every column of fct_lnob_gap with the labels beside its
    codes (series and indicator, area and country, the group's dimension, the group's status), so
    `lnob_bi_reader` charts "Ethnic minority, Viet Nam" and never has to know C01 or 704. A view in
    the published schema reading mart tables of the same schema only (publish refuses anything
    else); its columns are listed, not `gap.*`, so a column added to the mart reaches BI tools
    when it is documented here. -#}
{{ config(materialized='view') }}
with

indicator as (

    select distinct on (series_code) series_code, indicator_code, series_name, goal_code, goal_short
    from {{ ref('dim_indicator') }}
    order by series_code, indicator_code

),

labels as (

    select codelist_id, code, label from {{ ref('dim_sdmx_code') }}

),

final as (

    select
        gap.series,
        indicator.series_name,
        indicator.indicator_code,
        indicator.goal_code,
        indicator.goal_short,
        gap.ref_area,
        gap.ref_area_level,
        area.area_name,
        gap.country_m49,
        country.country_iso3,
        country.country_name,
        gap.time_period,
        gap.group_dimension,
        case gap.group_dimension
            when 'CUST_BREAKDOWN' then 'LNOB group'
            when 'DISABILITY_STATUS' then 'Disability status'
            when 'COMPOSITE_BREAKDOWN' then 'Migrant status'
        end                                                as group_dimension_label,
        gap.group_code,
        gap.group_label,
        gap.group_value,
        gap.group_lower_bound,
        gap.group_upper_bound,
        gap.group_n,
        gap.group_obs_status,
        status_labels.label                                as group_obs_status_label,
        (gap.group_obs_status = 'Q')                       as is_suppressed,
        gap.rest_value,
        gap.rest_lower_bound,
        gap.rest_upper_bound,
        gap.rest_n,
        gap.official_value,
        gap.official_time_period,
        gap.official_partners,
        gap.official_has_group_breakdown,
        gap.official_group_value,
        gap.official_group_time_period,
        gap.official_group_partners,
        gap.difference_vs_official_group,
        gap.difference_vs_rest,
        gap.ratio_vs_rest,
        gap.difference_vs_official,
        gap.ratio_vs_official,
        gap.intervals_overlap_rest,
        gap.intervals_overlap_official,
        gap.partners
    from {{ ref('fct_lnob_gap') }} as gap
    left join indicator on indicator.series_code = gap.series
    left join {{ ref('dim_geography') }} as area on area.ref_area = gap.ref_area
    left join {{ ref('dim_geography') }} as country on country.ref_area = gap.country_m49
    left join labels as status_labels
        on status_labels.codelist_id = 'CL_OBS_STATUS' and status_labels.code = gap.group_obs_status

)

select * from final
