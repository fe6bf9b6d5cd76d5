{#- The partners (community coalitions and official producers): kind, country, ICSO and members,
    the sources they deliver and how often, and their latest loaded delivery. No contact details. -#}
with

sources as (

    select
        partner_id,
        count(*)                                                        as sources,
        string_agg(distinct source_type, ';' order by source_type)      as source_types,
        string_agg(distinct cadence, ';' order by cadence)              as cadences
    from {{ ref('lnob_sources') }}
    group by partner_id

),

deliveries as (

    select
        partner_id,
        count(case when status = 'loaded' then 1 end)                   as deliveries_loaded,
        count(case when status = 'quarantined' then 1 end)              as deliveries_quarantined,
        max(case when status = 'loaded' then delivery_date end)         as last_delivery_date
    from {{ source('lnob_meta', 'delivery_ledger') }}
    group by partner_id

),

final as (

    select
        partners.partner_id::text                                           as partner_id,
        partners.partner_name::text                                         as partner_name,
        partners.kind::text                                                 as kind,
        nullif(partners.country_iso3, '')::text                             as country_iso3,
        countries.m49::text                                                 as country_m49,
        nullif(partners.icso, '')::text                                     as icso,
        nullif(partners.members, '')::text                                  as members,
        coalesce(sources.sources, 0)::bigint                                as sources,
        sources.source_types::text                                          as source_types,
        sources.cadences::text                                              as cadences,
        coalesce(deliveries.deliveries_loaded, 0)::bigint                   as deliveries_loaded,
        coalesce(deliveries.deliveries_quarantined, 0)::bigint              as deliveries_quarantined,
        deliveries.last_delivery_date::date                                 as last_delivery_date
    from {{ ref('lnob_partners') }} as partners
    left join {{ ref('lnob_countries') }} as countries on countries.iso3 = partners.country_iso3
    left join sources on sources.partner_id = partners.partner_id
    left join deliveries on deliveries.partner_id = partners.partner_id

)

select * from final
