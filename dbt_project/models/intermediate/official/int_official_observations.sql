{#- Official observations of every official source in the shape of fct_sdg_observation: the
    sixteen DSD dimensions, the attributes, `source_type` 'official', the partner, and no sample
    size (official producers do not publish theirs). A source re-sends its whole series with every
    release: for each observation key the latest delivery's value stands (a revision replaces the
    earlier figure). -#}
{% set sources = staged_models('observations') %}
{% set dimensions = ['freq', 'reporting_type', 'series', 'ref_area', 'sex', 'age', 'urbanisation',
                     'income_wealth_quantile', 'education_lev', 'occupation', 'cust_breakdown',
                     'composite_breakdown', 'disability_status', 'activity', 'product', 'time_period'] %}
with

delivered as (

    {% for model in sources %}
    select * from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

latest as (

    select distinct on (source_id, {{ dimensions | join(', ') }}) *
    from delivered
    order by source_id, {{ dimensions | join(', ') }}, delivery_date desc, delivery_id desc, row_number desc

),

final as (

    select
        {% for dim in dimensions %}
        {{ dim }},
        {% endfor %}
        obs_value,
        unit_measure,
        unit_mult,
        obs_status,
        nature,
        lower_bound,
        upper_bound,
        source_detail,
        comment_obs,
        'official'::text                                                     as source_type,
        partner_id                                                           as partners,
        null::bigint                                                         as n
    from latest

)

select * from final
