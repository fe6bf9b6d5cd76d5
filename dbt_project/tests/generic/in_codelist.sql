{#
  Every non-null value of the column is a code of the given SDMX codelist (from the DSD seed),
  or, for CUST_BREAKDOWN, an LNOB custom breakdown declared in `lnob_custom_breakdowns`.
#}
{% test in_codelist(model, column_name, codelist) %}
select {{ column_name }} as bad_code, count(*) as n_rows
from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} not in (
      select code from {{ ref('sdmx_codes') }} where codelist_id = '{{ codelist }}'
      {% if codelist == 'CL_CUST_BREAKDOWN' %}
      union all select cust_breakdown from {{ ref('lnob_custom_breakdowns') }}
      {% endif %}
  )
group by 1
{% endtest %}
