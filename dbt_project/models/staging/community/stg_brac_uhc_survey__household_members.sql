-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- BRAC coalition UHC survey (KoboToolbox): one submission per household, flattened at load to one
    row per roster member. Household consumption and health spending repeat on every member's row.
    An edited submission keeps its `_id`: with the member number, the record key. Its
    `_validation_status` is the review state (a rejected submission leaves every estimate); the
    water sources are a select_multiple answer (`multiple: true`). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('brac_uhc_survey') }}") }}

{{ stage_persons('brac_uhc_survey', 'BGD', {
    'person_pid': pseudonym("household_id || '/' || member_no"),
    'record_key': pseudonym("record_key || '/' || member_no"),
    'record_version': 'submission_time',
    'review_state': ('review_state', 'review_state'),
    'displacement_group': ('displacement', 'displacement'),
    'poverty_group': ('ultra_poor', 'ultra_poor'),
    'birth_registered': ('birth_registered', 'yes_no'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'health_need': ('health_need', 'yes_no'),
    'health_access': ('health_access', 'yes_no'),
    'consumption_month': 'consumption_month',
    'oop_health_12m': 'oop_health_12m',
}) }}
