{#- UN Statistics Division, Global SDG Indicators Database (API v1 `Series/Data` pages), one row
    per observation, recoded to the DSD through the registry (macro stage_unsd_observations,
    dbt_project/macros/staging/stage_unsd.sql). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('unsd_sdg_api') }}") }}
{{ stage_unsd_observations('unsd_sdg_api') }}
