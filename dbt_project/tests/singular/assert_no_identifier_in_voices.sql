{#- No published testimony carries an identifying detail: nothing `has_identifier` recognises
    (e-mail, phone, id number, a name after a cue), and none of the names its raw record carries
    (the respondent's name in full, any case, or any of its words; the recorder), in any version
    of that record delivered, and no `language` that is not a language code. Runs with the mart
    gate (tag marts): one row per leak, naming the testimony and the kind of leak, stops
    publication. This is the last line of defence: what is published was approved by a reviewer
    after automatic detection (lnob.transform.voices). -#}
{{ config(tags=['marts']) }}

{%- set sources = ['brac_voices', 'aak_voices'] %}

with

published as (

    select * from {{ ref('fct_voices') }}

),

raw_names as (

    {% for source_id in sources -%}
    select
        _source_id::text                                as source_id,
        {{ pseudonym('testimony_id') }}                 as testimony_key,
        name
    from {{ source('raw', source_id) }}
    cross join lateral (values (respondent_name::text), (recorded_by::text)) as names (name)
    where nullif(trim(name), '') is not null
    {% if not loop.last %}union all
    {% endif -%}
    {% endfor %}

),

leaks as (

    select published.source_id, published.testimony_key, 'identifier pattern' as leak
    from published
    where {{ has_identifier('published.testimony_text') }}

    union all

    select published.source_id, published.testimony_key, 'raw name of the record' as leak
    from published
    join raw_names
      on raw_names.source_id = published.source_id
     and raw_names.testimony_key = published.testimony_key
    where {{ scrub_name('published.testimony_text', 'raw_names.name') }} <> published.testimony_text

    union all

    -- `language` is free text in the partners' contract: only a language code may be published
    select published.source_id, published.testimony_key, 'language is not a language code' as leak
    from published
    where published.language !~ '^[a-z]{2,3}(-[a-z0-9]{2,8})?$'

)

select distinct source_id, testimony_key, leak
from leaks
