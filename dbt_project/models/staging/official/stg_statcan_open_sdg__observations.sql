-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Statistics Canada's Open SDG platform, one CSV per indicator, one row per observation, staged by
    the macro stage_open_sdg_observations: each disaggregation column of the file read through the
    registry's Open SDG vocabulary (a blank cell or a total label is `_T`, an unknown category
    `UNMAPPED:<column>=<label>`); the series from the Series value (code or name) or the file's
    indicator (its default, or told apart by Units); quarters as `YYYY-Qn` with FREQ Q, months as
    `YYYY-MM` with FREQ M; provinces as ISO 3166-2, city regions and groups of provinces as the
    registry's regions; a blank value kept with the status of its observation-status column. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('statcan_open_sdg') }}") }}

{{ stage_open_sdg_observations('statcan_open_sdg') }}
