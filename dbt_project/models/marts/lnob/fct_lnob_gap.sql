{#- The LNOB gap: for each community series, reference area, year and marginalised group (an LNOB
    group marked marginalised in the registry, persons with disability PD, migrants MS_MIGRANT):
    the group's value beside the rest of the community sample (the area's respondents outside the
    group) and beside the official value for the country (same year, or the nearest earlier one,
    else the nearest later one; a national producer before the global database), with difference,
    ratio and whether the 95% intervals overlap. `official_has_group_breakdown` is false where no
    official source publishes this series for this group in this country at all: the knowledge gap.
    Where an official source does (a national platform's Disability column as DISABILITY_STATUS PD,
    its Immigrant status as COMPOSITE_BREAKDOWN MS_MIGRANT, its Indigenous identity or visible
    minority as the custom breakdown), the official figure for the group itself stands beside the
    community's (`official_group_value`), matched like the national value. Official periods may be
    quarters or months (`2024-Q1`, `2024-03`): they are matched by their year, an annual figure
    before a sub-annual one of the same year.

    A suppressed group shows no value and no rest value (the rest and the total would give it away);
    a rest of fewer than LNOB_MIN_CELL respondents, or at 0% or 100% of fewer than
    LNOB_SDC_EXTREME_MIN_N, is not shown either. Group and rest come from the perturbed counts
    (int_sdg_cells), the rest as published total minus published group: it tells nothing the
    two published cells do not. Where the two perturbations leave a rest outside 0..100% (more
    counted in the numerator than in the denominator, or a negative count), the rest is not shown. -#}
with

cells as (

    select * from {{ ref('int_sdg_cells_suppressed') }}

),

official as (

    select * from {{ ref('int_official_observations') }}

),

groups as (

    select
        cells.*,
        case cells.dimension
            when 'CUST_BREAKDOWN' then labels.cust_breakdown
            else cells.code
        end                                                         as group_code,
        case cells.dimension
            when 'CUST_BREAKDOWN' then labels.label
            when 'DISABILITY_STATUS' then 'Persons with disability'
            when 'COMPOSITE_BREAKDOWN' then 'Migrants (incl. refugees)'
        end                                                         as group_label
    from cells
    left join {{ ref('lnob_custom_breakdowns') }} as labels
        on cells.dimension = 'CUST_BREAKDOWN' and labels.group_code = cells.code
    where (cells.dimension = 'CUST_BREAKDOWN' and labels.is_marginalised)
       or (cells.dimension = 'DISABILITY_STATUS' and cells.code = 'PD')
       or (cells.dimension = 'COMPOSITE_BREAKDOWN' and cells.code = 'MS_MIGRANT')

),

with_rest as (

    select
        groups.*,
        totals.suppressed                                           as total_suppressed,
        totals.n - groups.n                                         as rest_n_true,
        totals.n_numerator - groups.n_numerator                     as rest_n_numerator_true,
        totals.n_published - groups.n_published                     as rest_n,
        totals.n_numerator_published - groups.n_numerator_published as rest_n_numerator,
        {{ weighted_proportion('totals.sum_wy_published - groups.sum_wy_published',
                               'totals.sum_w_published - groups.sum_w_published') }}
                                                                    as rest_p_unbounded,
        -- within 0..1 (rounding of the weighted sums); a rest further out is not published
        least(greatest({{ weighted_proportion('totals.sum_wy_published - groups.sum_wy_published',
                                              'totals.sum_w_published - groups.sum_w_published') }}, 0), 1)
                                                                    as rest_p,
        {{ kish_n_effective('totals.sum_w_published - groups.sum_w_published',
                            'totals.sum_w2_published - groups.sum_w2_published') }}
                                                                    as rest_n_effective
    from groups
    join cells as totals
      on totals.series = groups.series and totals.ref_area = groups.ref_area
     and totals.time_period = groups.time_period and totals.dimension = '_T'

),

national_official as (

    -- the official national value of a series: every breakdown at its total
    select series, ref_area, time_period, freq, obs_value, lower_bound, upper_bound, reporting_type, partners
    from official
    where sex = '_T' and urbanisation = '_T' and income_wealth_quantile = '_T'
      and education_lev = '_T' and occupation = '_T' and cust_breakdown = '_T'
      and composite_breakdown = '_T' and disability_status = '_T' and activity = '_T'
      and product = '_T' and obs_value is not null

),

official_match as (

    select distinct on (with_rest.cell_id)
        with_rest.cell_id,
        national_official.obs_value                                 as official_value,
        national_official.lower_bound                               as official_lower_bound,
        national_official.upper_bound                               as official_upper_bound,
        national_official.time_period                               as official_time_period,
        national_official.partners                                  as official_partners
    from with_rest
    join national_official
      on national_official.series = with_rest.series
     and national_official.ref_area = with_rest.country_m49
    order by
        with_rest.cell_id,
        (left(national_official.time_period, 4)::int <= left(with_rest.time_period, 4)::int) desc,
        abs(left(national_official.time_period, 4)::int - left(with_rest.time_period, 4)::int),
        (national_official.freq = 'A') desc,
        national_official.time_period desc,
        (national_official.reporting_type = 'N') desc,
        national_official.partners

),

group_official as (

    -- the official value for the group itself: its breakdown, every other breakdown at its total
    select
        official.series, official.ref_area, official.time_period, official.freq, official.obs_value,
        official.reporting_type, official.partners, g.dimension, g.group_code
    from official
    cross join lateral (
        values ('DISABILITY_STATUS', official.disability_status),
               ('COMPOSITE_BREAKDOWN', official.composite_breakdown),
               ('CUST_BREAKDOWN', official.cust_breakdown)
    ) as g (dimension, group_code)
    where g.group_code <> '_T' and official.obs_value is not null
      and official.sex = '_T' and official.age = '_T' and official.urbanisation = '_T'
      and official.income_wealth_quantile = '_T' and official.education_lev = '_T'
      and official.occupation = '_T' and official.activity = '_T' and official.product = '_T'
      and (official.disability_status <> '_T')::int + (official.composite_breakdown <> '_T')::int
          + (official.cust_breakdown <> '_T')::int = 1

),

group_official_match as (

    select distinct on (with_rest.cell_id)
        with_rest.cell_id,
        group_official.obs_value                                    as official_group_value,
        group_official.time_period                                  as official_group_time_period,
        group_official.partners                                     as official_group_partners
    from with_rest
    join group_official
      on group_official.series = with_rest.series
     and group_official.ref_area = with_rest.country_m49
     and group_official.dimension = with_rest.dimension
     and group_official.group_code = with_rest.group_code
    order by
        with_rest.cell_id,
        (left(group_official.time_period, 4)::int <= left(with_rest.time_period, 4)::int) desc,
        abs(left(group_official.time_period, 4)::int - left(with_rest.time_period, 4)::int),
        (group_official.freq = 'A') desc,
        group_official.time_period desc,
        (group_official.reporting_type = 'N') desc,
        group_official.partners

),

official_breakdowns as (

    select distinct series, ref_area as country_m49, 'CUST_BREAKDOWN' as dimension, cust_breakdown as group_code
    from official where cust_breakdown <> '_T'
    union
    select distinct series, ref_area, 'DISABILITY_STATUS', disability_status
    from official where disability_status <> '_T'
    union
    select distinct series, ref_area, 'COMPOSITE_BREAKDOWN', composite_breakdown
    from official where composite_breakdown <> '_T'

),

published as (

    select
        with_rest.*,
        not with_rest.suppressed                                    as group_published,
        not (with_rest.suppressed or with_rest.total_suppressed  -- noqa: LT06
             -- the perturbed total minus the perturbed group can leave more in the numerator than
             -- in the denominator, or less than nothing: noise, not a rest of the sample
             or with_rest.rest_n_numerator < 0 or with_rest.rest_n_numerator > with_rest.rest_n
             or with_rest.rest_p_unbounded not between -1e-9 and 1 + 1e-9
             or {{ primary_suppression('with_rest.rest_n_true', 'with_rest.rest_n_numerator_true',
                                       'with_rest.rest_n', 'with_rest.rest_n_numerator', 'with_rest.rest_p') }} is not null)
                                                                    as rest_published
    from with_rest

),

estimates as (

    select
        published.*,
        case when group_published then 100 * p end                  as group_value,
        case when group_published then lower_bound end              as group_lower_bound,
        case when group_published then upper_bound end              as group_upper_bound,
        case when rest_published then 100 * rest_p end              as rest_value,
        case when rest_published then {{ wilson_lower('rest_p', 'rest_n_effective') }} end
                                                                    as rest_lower_bound,
        case when rest_published then {{ wilson_upper('rest_p', 'rest_n_effective') }} end
                                                                    as rest_upper_bound
    from published

),

final as (

    select
        estimates.series,
        estimates.ref_area,
        estimates.area_level                                            as ref_area_level,
        estimates.country_m49,
        estimates.time_period,
        estimates.dimension                                             as group_dimension,
        estimates.group_code,
        estimates.group_label,
        round(estimates.group_value::numeric, 2)::double precision      as group_value,
        round(estimates.group_lower_bound::numeric, 2)::double precision as group_lower_bound,
        round(estimates.group_upper_bound::numeric, 2)::double precision as group_upper_bound,
        case when estimates.group_published then estimates.n_published end::bigint as group_n,
        case when estimates.group_published then 'G' else 'Q' end::text as group_obs_status,
        round(estimates.rest_value::numeric, 2)::double precision       as rest_value,
        round(estimates.rest_lower_bound::numeric, 2)::double precision as rest_lower_bound,
        round(estimates.rest_upper_bound::numeric, 2)::double precision as rest_upper_bound,
        case when estimates.rest_published then estimates.rest_n end::bigint as rest_n,
        official_match.official_value,
        official_match.official_time_period,
        official_match.official_partners,
        (official_breakdowns.group_code is not null)                    as official_has_group_breakdown,
        group_official_match.official_group_value,
        group_official_match.official_group_time_period,
        group_official_match.official_group_partners,
        round((estimates.group_value - group_official_match.official_group_value)::numeric, 2)::double precision
                                                                        as difference_vs_official_group,
        round((estimates.group_value - estimates.rest_value)::numeric, 2)::double precision
                                                                        as difference_vs_rest,
        round((estimates.group_value / nullif(estimates.rest_value, 0))::numeric, 3)::double precision
                                                                        as ratio_vs_rest,
        round((estimates.group_value - official_match.official_value)::numeric, 2)::double precision
                                                                        as difference_vs_official,
        round((estimates.group_value / nullif(official_match.official_value, 0))::numeric, 3)::double precision
                                                                        as ratio_vs_official,
        case when estimates.group_published and estimates.rest_published
             then estimates.group_lower_bound <= estimates.rest_upper_bound
              and estimates.rest_lower_bound <= estimates.group_upper_bound end
                                                                        as intervals_overlap_rest,
        case when estimates.group_published and official_match.official_lower_bound is not null
             then estimates.group_lower_bound <= official_match.official_upper_bound
              and official_match.official_lower_bound <= estimates.group_upper_bound end
                                                                        as intervals_overlap_official,
        estimates.partners
    from estimates
    left join official_match using (cell_id)
    left join group_official_match using (cell_id)
    left join official_breakdowns
      on official_breakdowns.series = estimates.series
     and official_breakdowns.country_m49 = estimates.country_m49
     and official_breakdowns.dimension = estimates.dimension
     and official_breakdowns.group_code = estimates.group_code

)

select * from final
