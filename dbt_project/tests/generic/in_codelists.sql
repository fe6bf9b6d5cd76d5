{#
  `in_codelist` on several columns of a model in one test and one scan (`codelists`: column ->
  codelist id, as `in_codelist` takes it). A failing row per column and code outside its codelist,
  with how many rows carry it.
#}
{% test in_codelists(model, codelists) %}
{%- if codelists | length == 0 %}
    {{ exceptions.raise_compiler_error("in_codelists on " ~ model ~ ": no columns") }}
{%- endif %}
with

coded as (

    select cells.column_name, cells.codelist, cells.code
    from {{ model }} as m
    cross join lateral (
        values
        {%- for column, codelist in codelists.items() %}
            ('{{ column }}', '{{ codelist }}', m.{{ column }}::text){{ "," if not loop.last }}
        {%- endfor %}
    ) as cells (column_name, codelist, code)
    where cells.code is not null

),

codes as (

    select codelist_id, code from {{ ref('stg_reference__sdmx_codelist') }}
    where codelist_id in ({% for codelist in codelists.values() | unique %}'{{ codelist }}'{{ ", " if not loop.last }}{% endfor %})

)

select coded.column_name, coded.codelist, coded.code as bad_code, count(*) as n_rows
from coded
left join codes on codes.codelist_id = coded.codelist and codes.code = coded.code
where codes.code is null
group by 1, 2, 3
{% endtest %}
