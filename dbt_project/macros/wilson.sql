{#
  Estimation. A weighted proportion p = sum(w y) / sum(w) (0..1) with a Wilson score interval in
  percent on Kish's effective sample size n_eff = (sum w)^2 / sum(w^2) (equal to n when all
  weights are 1). z = 1.959964 for a two-sided 95% interval (var `z`).
#}
{% macro weighted_proportion(sum_wy, sum_w) -%}
    (({{ sum_wy }})::double precision / nullif(({{ sum_w }})::double precision, 0))
{%- endmacro %}

{% macro kish_n_effective(sum_w, sum_w2) -%}
    ((({{ sum_w }})::double precision ^ 2) / nullif(({{ sum_w2 }})::double precision, 0))
{%- endmacro %}

{% macro wilson_lower(p, n, z=var('z')) -%}
    (100.0 * (({{ p }}) + {{ z }}^2 / (2.0 * ({{ n }}))
      - {{ z }} * sqrt(greatest(({{ p }}) * (1 - ({{ p }})), 0) / ({{ n }}) + {{ z }}^2 / (4.0 * ({{ n }})^2)))
      / (1 + {{ z }}^2 / ({{ n }})))
{%- endmacro %}

{% macro wilson_upper(p, n, z=var('z')) -%}
    (100.0 * (({{ p }}) + {{ z }}^2 / (2.0 * ({{ n }}))
      + {{ z }} * sqrt(greatest(({{ p }}) * (1 - ({{ p }})), 0) / ({{ n }}) + {{ z }}^2 / (4.0 * ({{ n }})^2)))
      / (1 + {{ z }}^2 / ({{ n }})))
{%- endmacro %}
