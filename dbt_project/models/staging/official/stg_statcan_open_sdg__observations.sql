{#- Statistics Canada's Open SDG platform (the Canadian Indicator Framework): one CSV per indicator,
    one row per observation, read through the registry's Open SDG vocabulary (macro
    stage_open_sdg_observations; everything source-specific comes from the registry's seeds). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('statcan_open_sdg') }}") }}
{{ stage_open_sdg_observations('statcan_open_sdg') }}
