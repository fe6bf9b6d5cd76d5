{#- SDG observations from community data, in the shape of the IAEG-SDGs SDMX structure: one row
    per series x area x year x breakdown, the sixteen DSD dimensions, weighted proportion with a
    Wilson interval, and small-cell suppression (OBS_STATUS Q). -#}
with

persons as (

    select * from {{ ref('int_persons_harmonised') }}

),

responses as (

    select *, 'SH_H2O_SAFE'::text as series, safe_water as y
    from persons where safe_water is not null
    union all
    select *, 'VC_VOV_GDSD'::text as series, felt_discriminated as y
    from persons where felt_discriminated is not null

),

cells as (

    select
        series,
        ref_area,
        time_period,
        case when grouping(sex) = 1 then '_T' else sex end                            as sex,
        case when grouping(urbanisation) = 1 then '_T' else urbanisation end          as urbanisation,
        case when grouping(cust_breakdown) = 1 then '_T' else cust_breakdown end      as cust_breakdown,
        case when grouping(disability_status) = 1 then '_T' else disability_status end as disability_status,
        count(*)                                                   as n,
        sum(y)                                                     as n_numerator,
        sum(survey_weight * y) / nullif(sum(survey_weight), 0)     as p,
        sum(survey_weight) ^ 2 / nullif(sum(survey_weight ^ 2), 0) as n_effective,
        string_agg(distinct partner_id, ';' order by partner_id)   as partners
    from responses
    group by grouping sets (
        (series, ref_area, time_period),
        (series, ref_area, time_period, sex),
        (series, ref_area, time_period, urbanisation),
        (series, ref_area, time_period, cust_breakdown),
        (series, ref_area, time_period, disability_status)
    )
    -- an unknown value (null) is not a group: it would collide with the total
    having (grouping(sex) = 1 or sex is not null)
       and (grouping(urbanisation) = 1 or urbanisation is not null)
       and (grouping(cust_breakdown) = 1 or cust_breakdown is not null)
       and (grouping(disability_status) = 1 or disability_status is not null)

),

flagged as (

    select
        cells.*,
        (n < {{ var('min_cell') }} or n_numerator < {{ var('min_cell') }}) as suppressed
    from cells

)

select
    'A'::text                                                   as freq,
    'N'::text                                                   as reporting_type,
    flagged.series,
    flagged.ref_area,
    flagged.sex,
    '_T'::text                                                  as age,
    flagged.urbanisation,
    '_T'::text                                                  as income_wealth_quantile,
    '_T'::text                                                  as education_lev,
    '_T'::text                                                  as occupation,
    flagged.cust_breakdown,
    '_T'::text                                                  as composite_breakdown,
    flagged.disability_status,
    '_T'::text                                                  as activity,
    '_T'::text                                                  as product,
    flagged.time_period,
    case when suppressed then null else round((100 * p)::numeric, 2)::double precision end
                                                                as obs_value,
    series_ref.unit_measure,
    series_ref.unit_mult,
    case when suppressed then 'Q' else 'G' end::text            as obs_status,
    'E'::text                                                   as nature,
    case when suppressed then null
         else round({{ wilson_lower('p', 'n_effective') }}::numeric, 2)::double precision end
                                                                as lower_bound,
    case when suppressed then null
         else round({{ wilson_upper('p', 'n_effective') }}::numeric, 2)::double precision end
                                                                as upper_bound,
    ('LNOB partnership community data: ' || flagged.partners)::text
                                                                as source_detail,
    case when suppressed then 'Suppressed: fewer than {{ var("min_cell") }} respondents'
         else 'Weighted proportion; Wilson 95% interval on Kish effective sample size' end::text
                                                                as comment_obs,
    'community'::text                                           as source_type,
    flagged.partners,
    case when suppressed then null else n end::bigint           as n
from flagged
left join {{ ref('sdg_series') }} as series_ref
    on series_ref.series_code = flagged.series
