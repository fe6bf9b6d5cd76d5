{#
  Wilson score interval for a proportion p (0..1) on an effective sample size n, in percent.
  With survey weights, n is Kish's effective sample size (sum w)^2 / sum w^2.
#}
{% macro wilson_lower(p, n, z=var('z')) -%}
    (100.0 * (({{ p }}) + {{ z }}^2 / (2.0 * ({{ n }}))
      - {{ z }} * sqrt((({{ p }}) * (1 - ({{ p }})) + {{ z }}^2 / (4.0 * ({{ n }}))) / ({{ n }})))
      / (1 + {{ z }}^2 / ({{ n }})))
{%- endmacro %}

{% macro wilson_upper(p, n, z=var('z')) -%}
    (100.0 * (({{ p }}) + {{ z }}^2 / (2.0 * ({{ n }}))
      + {{ z }} * sqrt((({{ p }}) * (1 - ({{ p }})) + {{ z }}^2 / (4.0 * ({{ n }}))) / ({{ n }})))
      / (1 + {{ z }}^2 / ({{ n }})))
{%- endmacro %}
