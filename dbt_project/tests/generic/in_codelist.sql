{#
  Every non-null value of the column is a code of the given SDMX codelist (from the DSD seed).
  The partnership's declared extensions count as codes (macro sdmx_codelist_codes): for
  CL_CUST_BREAKDOWN the LNOB groups (`lnob_custom_breakdowns`), for CL_AREA the first-level areas
  (`lnob_areas`, ISO 3166-2). `SERIES` means an SDG series (`sdg_series`), an LNOB series
  (`lnob_series`) or a series the registry declares (`lnob_national_series`).
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
