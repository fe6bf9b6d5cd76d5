{#- Testimonies of every voices source whose speaker consents: the latest version of each
    testimony (a later delivery of the same testimony id replaces the earlier one, so a corrected
    text wins) gives the text; consent must hold in the latest version by delivery date AND in the
    latest one loaded, so a withdrawal delivered in an earlier-dated folder but loaded later still
    withdraws (lnob.transform.voices.current decides the same in Python). Text scrubbed in staging; what is
    published is decided by review (int_testimonies_reviewed). -#}
{%- set sources = staged_models('testimonies') %}

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

),

latest_loaded as (

    select distinct on (source_id, testimony_pid) source_id, testimony_pid, has_consent
    from versions
    order by source_id, testimony_pid, delivery_id desc, row_number desc

),

final as (

    select
        latest.source_id,
        latest.testimony_pid,
        latest.partner_id,
        latest.delivery_id,
        latest.row_number,
        latest.country_iso3,
        latest.area_code,
        latest.theme,
        latest.voice_group,
        latest.language,
        latest.testimony_text,
        latest.recorded_on,
        extract(year from latest.recorded_on)::int::text        as time_period,
        latest.staged_at
    from latest
    join latest_loaded
        on latest_loaded.source_id = latest.source_id
       and latest_loaded.testimony_pid = latest.testimony_pid
    where latest.has_consent
      and latest_loaded.has_consent

)

select * from final
