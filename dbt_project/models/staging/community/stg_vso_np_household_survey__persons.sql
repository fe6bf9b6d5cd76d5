-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- VSO Nepal household survey (XLSX), one row per household member, with survey weights. Caste and
    ethnicity are one question in Nepal's census tradition (Dalit, Janajati, other). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('vso_np_household_survey') }}") }}

{{ stage_persons('vso_np_household_survey', 'NPL', {
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
    'caste_group': ('caste_ethnicity', 'caste_ethnicity'),
    'water_safe': ('water_source', 'water_safe'),
    'birth_registered': ('birth_registered', 'yes_no'),
    'felt_discriminated': ('felt_discriminated', 'yes_no'),
    'health_need': ('health_need', 'yes_no'),
    'health_access': ('health_access', 'yes_no'),
    'survey_weight': 'weight',
    'interview_date': 'interview_date',
}) }}
