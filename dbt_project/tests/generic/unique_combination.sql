{#
  One row per combination of `columns` (the grain). GROUP BY treats nulls as equal, so a column
  that may be null (an unknown breakdown) is part of the key: two rows null in the same places and
  equal elsewhere fail. `not_null` (optional, a subset of `columns`) also fails a group in which
  one of those columns is null: uniqueness and not-null checked in one pass over the table.
#}
{% test unique_combination(model, columns, not_null=[]) %}
{%- for column in not_null if column not in columns %}
    {{ exceptions.raise_compiler_error("unique_combination: not_null column '" ~ column ~ "' is not one of columns " ~ columns | join(', ')) }}
{%- endfor %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- for column in not_null %}
    or {{ column }} is null
{%- endfor %}
{% endtest %}
