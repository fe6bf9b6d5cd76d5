-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- UN Global SDG Indicators Database (API v1 Series/Data pages), one row per observation, recoded
    from the API's codes (BOTHSEX, ALLAGE, ALLAREA, PERCENT) to the DSD. A value that is not a
    number is kept as OBS_STATUS O with the delivered text in comment_obs. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('unsd_sdg_api') }}") }}

{{ stage_unsd_observations('unsd_sdg_api') }}
