{#- Kenya National Bureau of Statistics: SDMX-ML (structure-specific data, the IAEG-SDGs DSD as
    KNBS extends it), one row per observation, recoded through the registry (macro
    stage_sdmx_observations, dbt_project/macros/staging/stage_sdmx.sql). -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('knbs_sdg_sdmx') }}") }}
{{ stage_sdmx_observations('knbs_sdg_sdmx') }}
