-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- ActionAid Kenya community-led monitoring (ODK Central OData), one submission per respondent. An
    edited submission keeps its `__id`: the record key; the latest submission date wins in the
    intermediate layer, and a submission the reviewers rejected is dropped there. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('aak_clm_survey') }}") }}

{{ stage_persons('aak_clm_survey', 'KEN', {
    'record_key': pseudonym('record_key'),
    'record_version': 'submission_time',
    'review_state': 'review_state',
    'displacement_group': ('displacement', 'displacement'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'health_need': ('health_need', 'yes_no'),
    'health_access': ('health_access', 'yes_no'),
}) }}
