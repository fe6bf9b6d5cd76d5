{#
  Raw -> staging is incremental by delivery: a night with a few new deliveries computes only their
  rows, and history it does not touch stays as it is.

  Every staging model of a raw source
    - is materialized `incremental` with the pre-hook `prune_deliveries(source_id)`;
    - selects from raw with `where {{ new_deliveries() }}`;
    - carries `delivery_id` and `staging_version` (the `staging_version(source_id)` expression).

  A staged row is recomputed when
    - its delivery is no longer `loaded` in the ledger (superseded by a corrected re-delivery,
      quarantined after the fact): its rows go, the replacement's rows come in as new;
    - its `staging_version` changed: the source's code map in the registry changed (a spelling was
      mapped, a code corrected) or the pseudonymisation key was rotated. The whole source is then
      restaged, so no row keeps an outdated code or a pseudonym under an old key.
#}

{% macro staging_version(source_id) -%}
    (select md5(coalesce(string_agg(m.code_list || '|' || m.partner_code || '|' || m.canonical_code, ','
                                    order by m.code_list, m.partner_code), '')
                || '|' || lnob_meta.pseudonym('lnob', 'key-version'))
       from {{ ref('partner_code_map') }} as m
      where m.source_id = '{{ source_id }}')
{%- endmacro %}


{% macro prune_deliveries(source_id) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
     where delivery_id not in (select delivery_id from lnob_meta.delivery_ledger where status = 'loaded')
        or staging_version is distinct from {{ staging_version(source_id) }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{% macro new_deliveries() -%}
    {%- if is_incremental() -%}
    _delivery_id not in (select distinct delivery_id from {{ this }})
    {%- else -%}
    true
    {%- endif -%}
{%- endmacro %}


{% macro delivery_lineage() -%}
    {#- The lineage every staged row carries from its raw row (see _raw__sources.yml). -#}
    _delivery_id                                                                        as delivery_id,
    _delivery_date                                                                      as delivery_date,
    _loaded_at                                                                          as loaded_at,
    _row_number                                                                         as row_number,
    _partner_id                                                                         as partner_id,
    _source_id                                                                          as source_id
{%- endmacro %}
