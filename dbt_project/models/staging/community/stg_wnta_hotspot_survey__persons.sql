-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Wada Na Todo Abhiyan hotspot survey (India, CSV UTF-8), one row per household member. No person
    id: a person is household and member number. Self-weighting (weight 1). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('wnta_hotspot_survey') }}") }}

{{ stage_persons('wnta_hotspot_survey', 'IND', {
    'person_pid': pseudonym("household_id || '/' || member_no"),
    'caste_group': ('caste', 'caste'),
    'birth_registered': ('birth_registered', 'yes_no'),
}) }}
