{#
  Every non-null value of the column is a code of the given SDMX codelist (from the DSD seed).
  The partnership's declared extensions count as codes: for CL_CUST_BREAKDOWN the LNOB groups
  (`lnob_custom_breakdowns`), for CL_AREA the first-level areas (`lnob_areas`, ISO 3166-2).
  `SERIES` means an SDG series (`sdg_series`) or an LNOB series (`lnob_series`).
#}
{% test in_codelist(model, column_name, codelist) %}
select {{ column_name }} as bad_code, count(*) as n_rows
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} not in (
      {% if codelist == 'SERIES' %}
      select series_code from {{ ref('sdg_series') }}
      union all select series_code from {{ ref('lnob_series') }}
      {% else %}
      select code from {{ ref('sdmx_codes') }} where codelist_id = '{{ codelist }}'
      {% endif %}
      {% if codelist == 'CL_CUST_BREAKDOWN' %}
      union all select cust_breakdown from {{ ref('lnob_custom_breakdowns') }}
      {% elif codelist == 'CL_AREA' %}
      union all select area_code from {{ ref('lnob_areas') }}
      {% endif %}
  )
group by 1
{% endtest %}
