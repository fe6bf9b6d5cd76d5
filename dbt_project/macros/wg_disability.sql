{#
  Washington Group Short Set: disability = at least one of the six domains answered 3 (a lot of
  difficulty) or 4 (cannot do at all). Ages 5 and over only. Answers outside 1..4 (don't know,
  refused) do not count; if no domain has a valid answer the status is unknown (null), kept out of
  both PD (persons with disability) and PWD (persons without disability).
#}
{% macro wg_disability_status(domains, age_column) -%}
    case
        when {{ age_column }} is null or {{ age_column }} < 5 then null
        when {% for d in domains %}{{ d }} in (3, 4){% if not loop.last %} or {% endif %}{% endfor %} then 'PD'
        when {% for d in domains %}coalesce({{ d }} between 1 and 4, false){% if not loop.last %} or {% endif %}{% endfor %} then 'PWD'
        else null
    end
{%- endmacro %}
