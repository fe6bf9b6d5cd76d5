{#- Testimonies of every voices source that may be published: the latest version of each
    testimony (a later delivery of the same testimony id replaces the earlier one, so a withdrawn
    consent or a corrected text wins), and of those only the ones whose speaker consented.
    Text already scrubbed of identifying details in staging. -#}
{%- set sources = [
    'stg_brac_voices__testimonies',
    'stg_aak_voices__testimonies',
] %}

with

versions as (

    {% for model in sources -%}
    select {% for name, type in testimony_columns() %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ ref(model) }}
    {% if not loop.last %}union all
    {% endif -%}
    {% endfor %}

),

latest as (

    select distinct on (source_id, testimony_pid) *
    from versions
    order by source_id, testimony_pid, delivery_date desc, delivery_id desc, row_number desc

)

select
    source_id,
    testimony_pid,
    partner_id,
    delivery_id,
    country_iso3,
    area_code,
    theme,
    voice_group,
    language,
    testimony_text,
    recorded_on,
    extract(year from recorded_on)::int::text               as time_period,
    staged_at
from latest
where has_consent
