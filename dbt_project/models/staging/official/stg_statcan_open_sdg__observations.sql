-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Statistics Canada's Open SDG platform (the Canadian Indicator Framework): one CSV per indicator,
    one row per observation, its disaggregation columns read through the registry's Open SDG
    vocabulary (a blank cell is the total; a column or category the vocabulary cannot map holds the
    delivery back, named). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('statcan_open_sdg') }}") }}

{{ stage_open_sdg_observations('statcan_open_sdg') }}
