-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- ActionAid Kenya community-led monitoring (ODK Central OData), one submission per respondent. An
    edited submission keeps its `__id`: the record key; the latest submission date wins in the
    intermediate layer, and a submission the reviewers rejected is dropped there. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('aak_clm_survey') }}") }}

{{ stage_persons('aak_clm_survey', 'KEN', {
    'person_pid': pseudonym('person_id'),
    'household_pid': pseudonym('household_id'),
    'record_key': pseudonym('record_key'),
    'record_version': 'submission_time',
    'review_state': 'review_state',
    'area_code': ('admin1', 'admin1'),
    'urbanisation': ('urbanisation', 'urbanisation'),
    'sex': ('sex', 'sex'),
    'age': 'age',
    'wg_seeing': ('wg_seeing', 'wg'),
    'wg_hearing': ('wg_hearing', 'wg'),
    'wg_walking': ('wg_walking', 'wg'),
    'wg_remembering': ('wg_remembering', 'wg'),
    'wg_selfcare': ('wg_selfcare', 'wg'),
    'wg_communicating': ('wg_communicating', 'wg'),
    'displacement_group': ('displacement', 'displacement'),
    'water_safe': ('water_source', 'water_safe'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'health_need': ('health_need', 'yes_no'),
    'health_access': ('health_access', 'yes_no'),
    'survey_weight': '1.0',
    'interview_date': 'interview_date',
}) }}
