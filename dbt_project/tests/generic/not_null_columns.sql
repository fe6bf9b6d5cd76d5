{#
  None of `columns` is null, in one test and one scan of the model (a `not_null` test per column
  costs a dbt node and a scan each: about 190 nodes a night before they were merged). A failing row
  per null value, naming its column (`column_name`) like dbt's own `not_null` names it in the
  test's name; the sample the pipeline reports shows which.
#}
{% test not_null_columns(model, columns) %}
{%- if columns | length == 0 %}
    {{ exceptions.raise_compiler_error("not_null_columns on " ~ model ~ ": no columns") }}
{%- endif %}
with failing as (

    select {{ columns | join(', ') }}
    from {{ model }}
    where {% for column in columns %}{{ column }} is null{{ " or " if not loop.last }}{% endfor %}

)

select nulls.column_name
from failing
cross join lateral (
    values
    {%- for column in columns %}
        ('{{ column }}', failing.{{ column }} is null){{ "," if not loop.last }}
    {%- endfor %}
) as nulls (column_name, is_null)
where nulls.is_null
{% endtest %}
