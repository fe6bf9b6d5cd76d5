{#- Every community survey's staged persons (the registry's person sources, `staged_models`) in one shape (see the `stage_persons` macro): every
    version of every record, as delivered. -#}
{{ config(materialized='view') }}

{%- set sources = staged_models('persons') %}

with final as (
{% for model in sources %}
    select {% for name, type in person_columns() %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
)

select * from final
