-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Plan India hotspot survey (CSV Latin-1, `;`), one row per household member; the partner's own
    column names are renamed by the registry at load. Self-weighting (weight 1). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('plan_india_hotspot_survey') }}") }}

{{ stage_persons('plan_india_hotspot_survey', 'IND', {
    'person_pid': pseudonym("household_id || '/' || member_no"),
    'household_pid': pseudonym('household_id'),
    'record_key': pseudonym("household_id || '/' || member_no"),
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
    'caste_group': ('caste', 'caste'),
    'water_safe': ('water_source', 'water_safe'),
    'birth_registered': ('birth_registered', 'yes_no'),
    'survey_weight': '1.0',
    'interview_date': 'interview_date',
}) }}
