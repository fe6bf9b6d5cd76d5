-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- ActionAid Viet Nam household survey (CSV with BOM), one row per household member. Survey weights
    sent by the partner; safe water asked directly as yes/no. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('aavn_household_survey') }}") }}

{{ stage_persons('aavn_household_survey', 'VNM', {
    'person_pid': pseudonym('person_id'),
    'household_pid': pseudonym('household_id'),
    'record_key': pseudonym('person_id'),
    'record_version': '_loaded_at',
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
    'ethnicity_group': ('ethnicity', 'ethnicity'),
    'water_safe': ('safe_water', 'yes_no'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'survey_weight': 'weight',
    'interview_date': 'interview_date',
}) }}
