{#- Group attribute disclosure: no published community value at 0% or 100% rests on fewer than
    LNOB_SDC_EXTREME_MIN_N respondents, in fct_sdg_observation or as a group or rest of the LNOB
    gap ("all 23 ... lack safe water" is a statement about each of them). Runs with the mart gate. -#}
{{ config(tags=['marts']) }}
select 'fct_sdg_observation' as mart, series, ref_area, time_period
from {{ ref('fct_sdg_observation') }}
where source_type = 'community' and obs_status = 'G' and obs_value in (0, 100)
  and n < {{ var('sdc_extreme_min_n') }}
union all
select 'fct_lnob_gap', series, ref_area, time_period
from {{ ref('fct_lnob_gap') }}
where (group_value in (0, 100) and group_n < {{ var('sdc_extreme_min_n') }})
   or (rest_value in (0, 100) and rest_n < {{ var('sdc_extreme_min_n') }})
