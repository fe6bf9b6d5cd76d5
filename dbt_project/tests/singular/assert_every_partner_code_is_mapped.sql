{#- Every code a partner sent is known to the registry. An unmapped spelling (recode() leaves it as
    'UNMAPPED:<spelling>') would otherwise drop out of a breakdown or an indicator silently. Runs
    with the mart gate (tag marts): the night is not published, and this names source, column and
    spelling so the registry can be fixed (then `lnob quarantine retry` or the next night). -#}
{{ config(tags=['marts']) }}

{%- set coded = ['area_code', 'urbanisation', 'sex', 'ethnicity_group', 'caste_group',
                 'displacement_group', 'poverty_group', 'water_safe', 'birth_registered',
                 'felt_discriminated', 'health_need', 'health_access'] %}

{#- One scan of the persons: the rows with any unmapped spelling first, then one row per spelling. -#}
with

unmapped as (

    select source_id, {{ coded | join(', ') }}
    from {{ ref('int_persons_harmonised') }}
    where {% for column in coded %}{{ column }} like 'UNMAPPED:%'{% if not loop.last %} or {% endif %}{% endfor %}

)

select source_id, spellings.column_name, spellings.spelling, count(*) as n_rows
from unmapped
cross join lateral (
    values {% for column in coded %}('{{ column }}', {{ column }}::text){% if not loop.last %}, {% endif %}{% endfor %}
) as spellings (column_name, spelling)
where spellings.spelling like 'UNMAPPED:%'
group by source_id, spellings.column_name, spellings.spelling
