{#
  Schemas are named by layer, not prefixed by the target schema: staging, intermediate, reference.
  Marts are written to the audit schema (write-audit-publish); `lnob publish` swaps it into `marts`
  once the gates have passed, so BI tools never see a half-built or failed night.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name == 'marts' -%}
        {{ env_var('LNOB_AUDIT_SCHEMA', 'marts_audit') }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
