{#- SDG observations in the shape of the IAEG-SDGs SDMX structure: the sixteen DSD dimensions,
    the attributes, and the partnership's lineage. Community estimates (OBS_STATUS G, experimental)
    from the suppressed community cells, one row per series x reference area x year x breakdown
    (value, interval and n from the perturbed counts of the cell key method, see int_sdg_cells);
    official observations from every official source as delivered. -#}
with

cells as (

    select * from {{ ref('int_sdg_cells_suppressed') }}

),

series as (

    select series_code, unit_measure, unit_mult from {{ ref('sdg_series') }}
    union all
    select series_code, unit_measure, unit_mult from {{ ref('lnob_series') }}
    union all
    select series_code, unit_measure, unit_mult from {{ ref('lnob_national_series') }}

),

community as (

    select
        'A'::text                                                                   as freq,
        'N'::text                                                                   as reporting_type,
        cells.series,
        cells.ref_area,
        case when cells.dimension = 'SEX' then cells.code else '_T' end             as sex,
        case when cells.dimension = 'AGE' then cells.code
             else {{ series_universe_age('cells.series') }} end                     as age,
        case when cells.dimension = 'URBANISATION' then cells.code else '_T' end    as urbanisation,
        '_T'::text                                                                  as income_wealth_quantile,
        '_T'::text                                                                  as education_lev,
        '_T'::text                                                                  as occupation,
        case when cells.dimension = 'CUST_BREAKDOWN' then coalesce(groups.cust_breakdown, cells.code) else '_T' end
                                                                                    as cust_breakdown,
        case when cells.dimension = 'COMPOSITE_BREAKDOWN' then cells.code else '_T' end
                                                                                    as composite_breakdown,
        case when cells.dimension = 'DISABILITY_STATUS' then cells.code else '_T' end
                                                                                    as disability_status,
        '_T'::text                                                                  as activity,
        '_T'::text                                                                  as product,
        cells.time_period,
        case when cells.suppressed then null
             else round((100 * cells.p)::numeric, 2)::double precision end          as obs_value,
        series.unit_measure,
        series.unit_mult,
        case when cells.suppressed then 'Q' else 'G' end::text                      as obs_status,
        'E'::text                                                                   as nature,
        case when cells.suppressed then null
             else round(cells.lower_bound::numeric, 2)::double precision end        as lower_bound,
        case when cells.suppressed then null
             else round(cells.upper_bound::numeric, 2)::double precision end        as upper_bound,
        ('LNOB partnership community data: ' || replace(cells.partners, ';', ', '))::text
                                                                                    as source_detail,
        -- one reason for every suppressed cell: a reason per cell would tell an intruder that a
        -- 'primary' cell has a numerator below the minimum, or an 'extreme' one is at 100%
        case
            when cells.suppressed then 'Suppressed: fewer than {{ var("min_cell") }} respondents in numerator or denominator, a 0% or 100% group of fewer than {{ var("sdc_extreme_min_n") }}, or a cell that would let one be recomputed'
            else 'Weighted proportion; Wilson 95% interval on the Kish effective sample size; counts perturbed (cell key method)'
        end::text                                                                   as comment_obs,
        'community'::text                                                           as source_type,
        cells.partners,
        case when cells.suppressed then null else cells.n_published end::bigint     as n,
        cells.area_level                                                            as ref_area_level
    from cells
    left join series on series.series_code = cells.series
    left join {{ ref('lnob_custom_breakdowns') }} as groups
        on cells.dimension = 'CUST_BREAKDOWN' and groups.group_code = cells.code

),

official as (

    select
        official.*,
        case when official.ref_area in (select m49 from {{ ref('lnob_countries') }})
                  or official.ref_area ~ '^[0-9]+$' then 'country' else 'admin1' end as ref_area_level
    from {{ ref('int_official_observations') }} as official

),

final as (

    select * from community
    union all
    select * from official

)

select * from final
