{#
  The codes of one SDMX codelist as a one-column select (`code`): the DSD's codelist (seed
  sdmx_codes) with the partnership's declared extensions. One owner for what a valid code is: the
  in_codelist test and the SDMX staging (stage_sdmx_observations) both read it.
    SERIES             the SDG series (sdg_series), the partnership's own (lnob_series) and the
                       series the registry declares (lnob_national_series: national `_L_...`
                       series, global series newer than the vendored list)
    CL_CUST_BREAKDOWN  + the LNOB groups (lnob_custom_breakdowns)
    CL_AREA            + the first-level areas (lnob_areas, ISO 3166-2)
#}
{% macro sdmx_codelist_codes(codelist) -%}
    {%- if codelist == 'SERIES' -%}
    select series_code as code from {{ ref('sdg_series') }}
    union all select series_code from {{ ref('lnob_series') }}
    union all select series_code from {{ ref('lnob_national_series') }}
    {%- else -%}
    select code from {{ ref('sdmx_codes') }} where codelist_id = '{{ codelist }}'
    {%- endif %}
    {%- if codelist == 'CL_CUST_BREAKDOWN' %}
    union all select cust_breakdown from {{ ref('lnob_custom_breakdowns') }}
    {%- elif codelist == 'CL_AREA' %}
    union all select area_code from {{ ref('lnob_areas') }}
    {%- endif %}
{%- endmacro %}
