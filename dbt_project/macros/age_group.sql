{#
  SDMX AGE codes for a person's age in completed years: the bands the community series are
  published by (under 5 for birth registration; children, youth, working age, older persons).
  Unknown or implausible ages (negative, above 120) have no group.
#}
{% macro age_group(age_column) -%}
    case
        when {{ age_column }} is null or {{ age_column }} < 0 or {{ age_column }} > 120 then null
        when {{ age_column }} < 5 then 'Y0T4'
        when {{ age_column }} < 15 then 'Y5T14'
        when {{ age_column }} < 25 then 'Y15T24'
        when {{ age_column }} < 65 then 'Y25T64'
        else 'Y_GE65'
    end
{%- endmacro %}
