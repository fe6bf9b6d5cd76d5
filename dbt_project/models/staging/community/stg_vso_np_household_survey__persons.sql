-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- VSO Nepal household survey (XLSX), one row per household member, with survey weights. Caste and
    ethnicity are one question in Nepal's census tradition (Dalit, Janajati, other). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('vso_np_household_survey') }}") }}

{{ stage_persons('vso_np_household_survey', 'NPL', {
    'caste_group': ('caste_ethnicity', 'caste_ethnicity'),
    'birth_registered': ('birth_registered', 'yes_no'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'health_need': ('health_need', 'yes_no'),
    'health_access': ('health_access', 'yes_no'),
    'survey_weight': 'weight',
}) }}
