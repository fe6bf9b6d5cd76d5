{#- The evidence map as a BI tool reads it: who holds data on whom, with the series, indicator and
    country named beside their codes. A view of the published schema over mart tables of the same
    schema only; columns listed, like bi_lnob_gap. -#}
{{ config(materialized='view') }}
with

indicator as (

    select distinct on (series_code) series_code, indicator_code, series_name, goal_code, goal_short
    from {{ ref('dim_indicator') }}
    order by series_code, indicator_code

),

final as (

    select
        evidence.series,
        indicator.series_name,
        indicator.indicator_code,
        indicator.goal_code,
        indicator.goal_short,
        evidence.country_m49,
        evidence.country_iso3,
        country.country_name,
        evidence.time_period,
        evidence.group_dimension,
        case evidence.group_dimension
            when 'CUST_BREAKDOWN' then 'LNOB group'
            when 'DISABILITY_STATUS' then 'Disability status'
            when 'COMPOSITE_BREAKDOWN' then 'Migrant status'
        end                                                as group_dimension_label,
        evidence.group_code,
        evidence.group_label,
        evidence.community_partners,
        evidence.n_community_partners,
        evidence.sample_size,
        evidence.sample_size_below_minimum,
        evidence.official_partners,
        evidence.is_overlap,
        evidence.is_gap,
        case
            when evidence.is_gap then 'Gap: nobody holds data'
            when evidence.is_overlap then 'Overlap: two or more hold data'
            when evidence.n_community_partners = 1 then 'One community partner'
            else 'One official producer'
        end                                                as coverage
    from {{ ref('fct_evidence_map') }} as evidence
    left join indicator on indicator.series_code = evidence.series
    left join {{ ref('dim_geography') }} as country on country.ref_area = evidence.country_m49

)

select * from final
