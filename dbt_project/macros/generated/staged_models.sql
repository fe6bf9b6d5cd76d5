{#- generated from the registry by `lnob registry generate`: edit registry.yml, not this file -#}
{#- The staged models of every registered source, by kind (persons, testimonies,
    observations): what int_persons_unioned, int_testimonies and int_official_observations
    union. -#}
{% macro staged_models(kind) -%}
    {%- set models = {
        'persons': ['stg_brac_uhc_survey__household_members', 'stg_wnta_hotspot_survey__persons', 'stg_plan_india_hotspot_survey__persons', 'stg_aak_clm_survey__persons', 'stg_vso_np_household_survey__persons', 'stg_aavn_household_survey__persons'],
        'testimonies': ['stg_brac_voices__testimonies', 'stg_aak_voices__testimonies'],
        'observations': ['stg_unsd_sdg_api__observations', 'stg_knbs_sdg_sdmx__observations', 'stg_statcan_open_sdg__observations'],
    } -%}
    {%- if kind not in models -%}
        {{ exceptions.raise_compiler_error("staged_models: unknown kind '" ~ kind ~ "'") }}
    {%- endif -%}
    {{ return(models[kind]) }}
{%- endmacro %}
