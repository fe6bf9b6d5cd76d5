{#
  The codes of one SDMX codelist as a one-column select (`code`), read from the one model that holds
  the extended codelists (stg_reference__sdmx_codelist: the DSD's codelists with the partnership's
  declared extensions; `SERIES` means every series a mart may carry). The in_codelist test and the
  SDMX staging (stage_sdmx_observations) read it here; lnob.quality.gates and lnob.quality.isolation read the model.
#}
{% macro sdmx_codelist_codes(codelist) -%}
    select code from {{ ref('stg_reference__sdmx_codelist') }} where codelist_id = '{{ codelist }}'
{%- endmacro %}
