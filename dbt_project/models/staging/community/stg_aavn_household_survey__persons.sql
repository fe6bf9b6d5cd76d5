-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- ActionAid Viet Nam household survey (CSV with BOM), one row per household member. Survey weights
    sent by the partner; safe water asked directly as yes/no. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('aavn_household_survey') }}") }}

{{ stage_persons('aavn_household_survey', 'VNM', {
    'ethnicity_group': ('ethnicity', 'ethnicity'),
    'water_safe': ('safe_water', 'yes_no'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'survey_weight': 'weight',
}) }}
