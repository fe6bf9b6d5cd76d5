{#- Every official observation published is the one row its source delivered for that key, with
    the value delivered. A delivery holding two rows for one key (a breakdown column nobody mapped)
    would otherwise publish one of them, say a sub-group's value, as the total. Staging holds such
    a delivery back (lnob.quality.isolation); this is the mart gate's own check, naming partner and key. -#}
{{ config(tags=['marts']) }}

{% set sources = staged_models('observations') %}
{% set dimensions = ['freq', 'reporting_type', 'series', 'ref_area', 'sex', 'age', 'urbanisation',
                     'income_wealth_quantile', 'education_lev', 'occupation', 'cust_breakdown',
                     'composite_breakdown', 'disability_status', 'activity', 'product', 'time_period'] %}
with

delivered as (

    {% for model in sources %}
    select partner_id, delivery_id, delivery_date, {{ dimensions | join(', ') }}, obs_value from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

latest as (

    select distinct on (partner_id, {{ dimensions | join(', ') }})
           partner_id, {{ dimensions | join(', ') }}, delivery_id
    from delivered
    order by partner_id, {{ dimensions | join(', ') }}, delivery_date desc, delivery_id desc

),

rows_of_latest as (

    select d.partner_id, {% for dim in dimensions %}d.{{ dim }}, {% endfor %}
           count(*) as n_rows, min(d.obs_value) as low, max(d.obs_value) as high
    from delivered as d
    join latest using (partner_id, delivery_id, {{ dimensions | join(', ') }})
    group by d.partner_id, {% for dim in dimensions %}d.{{ dim }}{% if not loop.last %}, {% endif %}{% endfor %}

)

select p.partners as partner_id, p.series, p.ref_area, p.time_period, p.obs_value as published,
       r.low as delivered_low, r.high as delivered_high, r.n_rows as delivered_rows
from {{ ref('fct_sdg_observation') }} as p
left join rows_of_latest as r
    on r.partner_id = p.partners
   {% for dim in dimensions %}and r.{{ dim }} = p.{{ dim }} {% endfor %}
where p.source_type = 'official'
  and (r.n_rows is distinct from 1 or r.low is distinct from p.obs_value)
