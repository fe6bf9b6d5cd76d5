{#
  Every non-null value of the column is a code of the given SDMX codelist as the partnership extends
  it (model stg_reference__sdmx_codelist, through the macro sdmx_codelist_codes): for
  CL_CUST_BREAKDOWN the LNOB groups, for CL_AREA the first-level areas (ISO 3166-2); `SERIES` means
  an SDG series, an LNOB series or a series the registry declares.
#}
{% test in_codelist(model, column_name, codelist) %}
select {{ column_name }} as bad_code, count(*) as n_rows
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} not in (
      {{ sdmx_codelist_codes(codelist) }}
  )
group by 1
{% endtest %}
