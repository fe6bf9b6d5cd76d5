{#
  Keyed-hash pseudonym (HMAC-SHA256 of partner and id, key LNOB_PSEUDONYM_KEY) computed by the
  warehouse function lnob_meta.pseudonym. The key never appears in compiled SQL: dbt's sessions
  receive it as settings (see include/lnob/transform/pseudonym.py). Raw ids stop at staging.
#}
{% macro pseudonym(column, partner_column='_partner_id') -%}
    lnob_meta.pseudonym({{ partner_column }}, {{ column }}::text)
{%- endmacro %}
