{#
  Map a partner's code spelling to the canonical code through the `partner_code_map` seed (built
  from the registry). Unknown spellings pass through as 'UNMAPPED:<value>' so that the mart gates
  catch them by name instead of silently dropping them.
#}
{% macro recode(source_id, code_list, column) -%}
    case
        when nullif(trim({{ column }}), '') is null then null
        else coalesce(
            (select m.canonical_code
               from {{ ref('partner_code_map') }} as m
              where m.source_id = '{{ source_id }}'
                and m.code_list = '{{ code_list }}'
                and m.partner_code = lower(trim({{ column }}))),
            'UNMAPPED:' || trim({{ column }})
        )
    end
{%- endmacro %}
