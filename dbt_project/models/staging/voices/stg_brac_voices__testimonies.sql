{#- BRAC-led coalition Bangladesh testimonies (one JSON document per delivery), one row per
    testimony as delivered. A testimony delivered again (a correction, a withdrawn consent) keeps
    its id: the latest delivery wins in the intermediate layer. -#}
{{ config(materialized='incremental', pre_hook="{{ prune_deliveries('brac_voices') }}") }}

{{ stage_testimonies('brac_voices', 'BGD') }}
