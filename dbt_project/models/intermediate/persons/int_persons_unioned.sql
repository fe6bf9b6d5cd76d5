{#- Every community survey's staged persons in one shape (see the `stage_persons` macro): every
    version of every record, as delivered. -#}
{{ config(materialized='view') }}

{%- set sources = [
    'stg_aavn_household_survey__persons',
    'stg_wnta_hotspot_survey__persons',
    'stg_plan_india_hotspot_survey__persons',
    'stg_vso_np_household_survey__persons',
    'stg_aak_clm_survey__persons',
    'stg_brac_uhc_survey__household_members',
] %}

{% for model in sources %}
select {% for name, type in person_columns() %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ ref(model) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
