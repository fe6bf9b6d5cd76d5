{#- Every code a partner sent is known to the registry. An unmapped spelling (recode() leaves it as
    'UNMAPPED:<spelling>') would otherwise drop out of a breakdown or an indicator silently. Runs
    with the mart gate (tag marts): the night is not published, and this names source, column and
    spelling so the registry can be fixed (then `lnob quarantine retry` or the next night). -#}
{{ config(tags=['marts']) }}

{%- set coded = ['area_code', 'urbanisation', 'sex', 'ethnicity_group', 'caste_group',
                 'displacement_group', 'poverty_group', 'water_safe', 'birth_registered',
                 'felt_discriminated', 'health_need', 'health_access'] %}

{% for column in coded %}
select source_id, '{{ column }}' as column_name, {{ column }} as spelling, count(*) as n_rows
from {{ ref('int_persons_harmonised') }}
where {{ column }} like 'UNMAPPED:%'
group by source_id, {{ column }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
