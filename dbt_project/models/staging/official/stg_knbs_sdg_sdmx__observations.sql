-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- Kenya National Bureau of Statistics, SDMX-ML (structure-specific, KNBS's national extension of
    the IAEG-SDGs DSD), one row per observation: a blank dimension is its total `_T`; national codes
    recoded through the registry's code maps (KE to 404, KE_NBO to KE-30, CITY to U, PERCENT to PT);
    a DSD code passes as delivered; anything else is `UNMAPPED:<code>` and holds the delivery back. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('knbs_sdg_sdmx') }}") }}

{{ stage_sdmx_observations('knbs_sdg_sdmx') }}
