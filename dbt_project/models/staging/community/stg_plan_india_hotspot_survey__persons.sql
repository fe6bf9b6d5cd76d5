-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Plan India hotspot survey (CSV Latin-1, `;`), one row per household member; the partner's own
    column names are renamed by the registry at load. Self-weighting (weight 1). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('plan_india_hotspot_survey') }}") }}

{{ stage_persons('plan_india_hotspot_survey', 'IND', {
    'person_pid': pseudonym("household_id || '/' || member_no"),
    'caste_group': ('caste', 'caste'),
    'birth_registered': ('birth_registered', 'yes_no'),
}) }}
