{#- Every published cell of the community series, with its estimate.

    A cell is a series x reference area x year x one breakdown (or the total): the country (REF_AREA
    = M49) and each first-level area (REF_AREA = ISO 3166-2), by sex, age group, urban/rural,
    disability, migrant status, and each LNOB group family (ethnicity, caste, displacement,
    ultra-poverty). Cells of one `family` partition their total, which secondary suppression relies
    on (int_sdg_cells_suppressed). Unknown values (null) form no cell.

    Estimate: the weighted proportion p = sum(w y) / sum(w) in percent, with a Wilson 95% interval
    on Kish's effective sample size (sum w)^2 / sum w^2. With weights all 1 that is the plain
    proportion and its Wilson interval on n.

    Perturbation (the cell key method of ABS TableBuilder and the ONS, Census 2021): a cell's key
    is the sum of its respondents' record keys (int_sdg_responses) modulo 256, the numerator's
    the sum over the respondents counted in it. The ptable (seed lnob_ptable) maps a count and its
    cell key to a noise of -2..+2; `n_published` and `n_numerator_published` carry it. The same
    respondents always give the same key, hence the same noise: a cell that does not change from one
    night to the next is published the same, and subtracting two nights tells nothing exact about
    the persons who came in. The weighted sums are scaled by published / true count (sum w by n,
    sum w y by the numerator), so the estimate, its interval and the LNOB gap's rest are computed
    from perturbed counts throughout; with weights all 1, value = numerator / n of the published
    counts. `n`, `n_numerator` and the sums stay true: suppression decides on them. -#}
{%- set p = weighted_proportion('sum_wy_published', 'sum_w_published') -%}
{%- set n_eff = kish_n_effective('sum_w_published', 'sum_w2_published') %}
with

fine as (

    select * from {{ ref('int_sdg_fine_cells') }}

),

expanded as (

    select
        fine.series,
        areas.ref_area,
        areas.area_level,
        fine.country_m49,
        fine.time_period,
        breakdowns.dimension,
        breakdowns.family,
        breakdowns.code,
        fine.partner_id,
        fine.n, fine.n_numerator, fine.sum_w, fine.sum_wy, fine.sum_w2,
        fine.key_sum, fine.key_sum_numerator
    from fine
    cross join lateral (
        values (fine.country_m49, 'country'), (fine.area_code, 'admin1')
    ) as areas (ref_area, area_level)
    cross join lateral (
        values
            ('_T', '_T', '_T'),
            -- unknown sex (_U) is no group; an unmapped spelling goes on, for the gates to name it
            ('SEX', 'sex', case when fine.sex <> '_U' then fine.sex end),
            -- the under-5 series has one age band: its total
            ('AGE', 'age', case when fine.series <> 'SG_REG_BRTH'
                                 and not (fine.series = 'VC_VOV_GDSD' and fine.age_group in ('Y0T4', 'Y5T14'))
                                then fine.age_group end),
            ('URBANISATION', 'urbanisation', fine.urbanisation),
            ('DISABILITY_STATUS', 'disability_status', fine.disability_status),
            ('COMPOSITE_BREAKDOWN', 'migrant_status', fine.migrant_status),
            ('CUST_BREAKDOWN', 'ethnicity', fine.ethnicity_group),
            ('CUST_BREAKDOWN', 'caste', fine.caste_group),
            ('CUST_BREAKDOWN', 'displacement', fine.displacement_group),
            ('CUST_BREAKDOWN', 'poverty', fine.poverty_group)
    ) as breakdowns (dimension, family, code)
    where areas.ref_area is not null
      and breakdowns.code is not null

),

cells as (

    select
        series, ref_area, area_level, country_m49, time_period, dimension, family, code,
        sum(n)::bigint                                              as n,
        sum(n_numerator)::bigint                                    as n_numerator,
        sum(sum_w)                                                  as sum_w,
        sum(sum_wy)                                                 as sum_wy,
        sum(sum_w2)                                                 as sum_w2,
        string_agg(distinct partner_id, ';' order by partner_id)    as partners,
        count(distinct partner_id)::int                             as n_partners,
        (sum(key_sum) % {{ var('cell_key_range') }})::int          as cell_key,
        (sum(key_sum_numerator) % {{ var('cell_key_range') }})::int as cell_key_numerator
    from expanded
    group by series, ref_area, area_level, country_m49, time_period, dimension, family, code

),

ptable as (

    select * from {{ ref('lnob_ptable') }}

),

perturbed as (

    select
        cells.*,
        {{ perturbed_count('cells.n', 'noise_n.noise') }}           as n_published,
        -- a numerator is never published above its denominator
        least({{ perturbed_count('cells.n_numerator', 'noise_y.noise') }},
              {{ perturbed_count('cells.n', 'noise_n.noise') }})    as n_numerator_published
    from cells
    left join ptable as noise_n
      on noise_n.count_class = least(cells.n, 3)
     and cells.cell_key between noise_n.cell_key_from and noise_n.cell_key_to
    left join ptable as noise_y
      on noise_y.count_class = least(cells.n_numerator, 3)
     and cells.cell_key_numerator between noise_y.cell_key_from and noise_y.cell_key_to

),

published as (

    select
        perturbed.*,
        sum_w * n_published / n                                     as sum_w_published,
        sum_w2 * n_published / n                                    as sum_w2_published,
        least(case when n_numerator = 0 then 0
                   else sum_wy * n_numerator_published / n_numerator end,
              sum_w * n_published / n)                              as sum_wy_published
    from perturbed

),

final as (

    select
        md5(concat_ws('|', series, ref_area, time_period, dimension, family, code)) as cell_id,
        published.*,
        -- the published estimate (from the perturbed counts)
        {{ p }}                                                          as p,
        -- published precision (percent, 4 decimals; the marts round to 2)
        round((100 * {{ p }})::numeric, 4)::double precision             as value,
        round({{ n_eff }}::numeric, 4)::double precision                 as n_effective,
        round({{ wilson_lower(p, n_eff) }}::numeric, 4)::double precision
                                                                         as lower_bound,
        round({{ wilson_upper(p, n_eff) }}::numeric, 4)::double precision
                                                                         as upper_bound
    from published

)

select * from final
