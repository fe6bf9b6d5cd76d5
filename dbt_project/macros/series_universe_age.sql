{#
  The AGE code of a community series' whole population: what its "total" is. Birth registration
  is defined for children under 5, felt discrimination is asked from age 15; the other series
  cover all ages (_T).
#}
{% macro series_universe_age(series_column) -%}
    case {{ series_column }}
        when 'SG_REG_BRTH' then 'Y0T4'
        when 'VC_VOV_GDSD' then 'Y_GE15'
        else '_T'
    end
{%- endmacro %}
