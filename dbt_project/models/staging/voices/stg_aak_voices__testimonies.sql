-- generated from the registry by `lnob registry generate`: edit registry.yml, not this file
{#- ActionAid Kenya testimonies (JSON Lines), one row per testimony as delivered. A testimony
    delivered again (a correction, a withdrawn consent) keeps its id: the latest delivery wins in
    the intermediate layer. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('aak_voices') }}") }}

{{ stage_testimonies('aak_voices', 'KEN') }}
