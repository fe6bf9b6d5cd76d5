{#- Who holds data on whom. For every series x country x year that anyone (a community partner or
    an official producer) holds data on, and every marginalised group of that country: the
    community partners holding data on the group and their respondents, the official producers
    publishing the series by that group, overlaps (two or more holders: coordinate, compare) and
    gaps (nobody: the knowledge gap the partnership exists to fill).

    Groups of a country: persons with disabilities (DISABILITY_STATUS PD) and migrants
    (COMPOSITE_BREAKDOWN MS_MIGRANT) everywhere; an LNOB group (CUST_BREAKDOWN) where a source of
    that country codes it (its code map) or community data on it exist. The sample size is the
    group's country cell as fct_sdg_observation publishes it (perturbed n), shown only where that
    cell is published: a sample size smaller than LNOB_MIN_CELL is only flagged, like any small
    cell, and a cell suppressed to protect another does not give its n away here. -#}
with

countries as (

    select iso3, m49 from {{ ref('lnob_countries') }}

),

fine as (

    select * from {{ ref('int_sdg_fine_cells') }}

),

-- community respondents of each group, per partner: one row per fine cell and group it belongs to
community_groups as (

    select fine.series, fine.country_m49, fine.time_period, fine.partner_id, fine.n, g.group_dimension, g.group_code
    from fine
    cross join lateral (
        values
            ('DISABILITY_STATUS', case when fine.disability_status = 'PD' then 'PD' end),
            ('COMPOSITE_BREAKDOWN', case when fine.migrant_status = 'MS_MIGRANT' then 'MS_MIGRANT' end),
            ('CUST_BREAKDOWN', fine.ethnicity_group),
            ('CUST_BREAKDOWN', fine.caste_group),
            ('CUST_BREAKDOWN', fine.displacement_group),
            ('CUST_BREAKDOWN', fine.poverty_group)
    ) as g (group_dimension, group_code)
    where g.group_code is not null

),

community as (

    select
        community_groups.series,
        community_groups.country_m49,
        community_groups.time_period,
        community_groups.group_dimension,
        coalesce(breakdowns.cust_breakdown, community_groups.group_code)               as group_code,
        string_agg(distinct community_groups.partner_id, ';' order by community_groups.partner_id)
                                                                                       as partners,
        count(distinct community_groups.partner_id)::int                               as n_partners,
        sum(community_groups.n)::bigint                                                as n
    from community_groups
    left join {{ ref('lnob_custom_breakdowns') }} as breakdowns
        on community_groups.group_dimension = 'CUST_BREAKDOWN' and breakdowns.group_code = community_groups.group_code
    where community_groups.group_dimension <> 'CUST_BREAKDOWN' or breakdowns.is_marginalised
    group by 1, 2, 3, 4, 5

),

-- the group's country cell as published (perturbed n; null where suppressed)
published_groups as (

    select
        cells.series, cells.country_m49, cells.time_period, cells.dimension as group_dimension,
        coalesce(breakdowns.cust_breakdown, cells.code)                               as group_code,
        case when not cells.suppressed then cells.n_published end                      as n_published
    from {{ ref('int_sdg_cells_suppressed') }} as cells
    left join {{ ref('lnob_custom_breakdowns') }} as breakdowns
        on cells.dimension = 'CUST_BREAKDOWN' and breakdowns.group_code = cells.code
    where cells.area_level = 'country'
      and cells.dimension in ('CUST_BREAKDOWN', 'DISABILITY_STATUS', 'COMPOSITE_BREAKDOWN')

),

official_observations as (

    select
        official.*,
        coalesce(countries.m49, areas_country.m49)                                     as country_m49
    from {{ ref('int_official_observations') }} as official
    left join countries on countries.m49 = official.ref_area
    left join {{ ref('lnob_areas') }} as areas on areas.area_code = official.ref_area
    left join countries as areas_country on areas_country.iso3 = areas.iso3
    where official.obs_value is not null

),

official as (

    select series, country_m49, time_period, g.group_dimension, g.group_code,
           string_agg(distinct partners, ';' order by partners)                        as partners,
           count(distinct partners)::int                                               as n_partners
    from official_observations
    cross join lateral (
        values ('DISABILITY_STATUS', disability_status), ('COMPOSITE_BREAKDOWN', composite_breakdown),
               ('CUST_BREAKDOWN', cust_breakdown)
    ) as g (group_dimension, group_code)
    where g.group_code <> '_T' and country_m49 is not null
    group by 1, 2, 3, 4, 5

),

-- what anyone holds: the series x country x year grid
holdings as (

    select distinct series, country_m49, time_period from fine
    union
    select distinct series, country_m49, time_period from official_observations where country_m49 is not null

),

-- the groups of each country
country_groups as (

    select countries.m49 as country_m49, g.group_dimension, g.group_code, g.group_label
    from countries
    cross join (values ('DISABILITY_STATUS', 'PD', 'Persons with disability'),
                       ('COMPOSITE_BREAKDOWN', 'MS_MIGRANT', 'Migrants (including refugees)'))
        as g (group_dimension, group_code, group_label)
    union
    select distinct countries.m49, 'CUST_BREAKDOWN', breakdowns.cust_breakdown, breakdowns.label
    from {{ ref('partner_code_map') }} as codes
    join {{ ref('lnob_sources') }} as sources on sources.source_id = codes.source_id
    join countries on countries.iso3 = sources.country_iso3
    join {{ ref('lnob_custom_breakdowns') }} as breakdowns on breakdowns.group_code = codes.canonical_code
    where breakdowns.is_marginalised
    union
    select distinct community.country_m49, 'CUST_BREAKDOWN', breakdowns.cust_breakdown, breakdowns.label
    from community
    join {{ ref('lnob_custom_breakdowns') }} as breakdowns on breakdowns.cust_breakdown = community.group_code
    where community.group_dimension = 'CUST_BREAKDOWN'

),

grid as (

    select holdings.series, holdings.country_m49, holdings.time_period,
           country_groups.group_dimension, country_groups.group_code, country_groups.group_label
    from holdings
    join country_groups on country_groups.country_m49 = holdings.country_m49

),

final as (

    select
        grid.series::text                                                                  as series,
        grid.country_m49::text                                                             as country_m49,
        countries.iso3::text                                                               as country_iso3,
        grid.time_period::text                                                             as time_period,
        grid.group_dimension::text                                                         as group_dimension,
        grid.group_code::text                                                              as group_code,
        grid.group_label::text                                                             as group_label,
        community.partners::text                                                           as community_partners,
        coalesce(community.n_partners, 0)::integer                                         as n_community_partners,
        case when community.n >= {{ var('min_cell') }} then published_groups.n_published end::bigint
                                                                                           as sample_size,
        coalesce(community.n > 0 and community.n < {{ var('min_cell') }}, false)           as sample_size_below_minimum,
        official.partners::text                                                            as official_partners,
        (coalesce(community.n_partners, 0) + coalesce(official.n_partners, 0) >= 2)        as is_overlap,
        (community.partners is null and official.partners is null)                         as is_gap
    from grid
    join countries on countries.m49 = grid.country_m49
    left join community
        on community.series = grid.series and community.country_m49 = grid.country_m49
       and community.time_period = grid.time_period and community.group_dimension = grid.group_dimension
       and community.group_code = grid.group_code
    left join published_groups
        on published_groups.series = grid.series and published_groups.country_m49 = grid.country_m49
       and published_groups.time_period = grid.time_period
       and published_groups.group_dimension = grid.group_dimension and published_groups.group_code = grid.group_code
    left join official
        on official.series = grid.series and official.country_m49 = grid.country_m49
       and official.time_period = grid.time_period and official.group_dimension = grid.group_dimension
       and official.group_code = grid.group_code

)

select * from final
