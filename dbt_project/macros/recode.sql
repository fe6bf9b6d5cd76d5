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


{#
  A select_multiple answer (choice names separated by spaces) as the array of its choices' codes,
  in the order given, each recoded like `recode` (an unknown choice is 'UNMAPPED:<choice>').
#}
{% macro recode_set(source_id, code_list, column) -%}
    (select array_agg(coalesce(m.canonical_code, 'UNMAPPED:' || c.choice) order by c.n)
       from unnest(regexp_split_to_array(nullif(trim({{ column }}), ''), '\s+')) with ordinality as c(choice, n)
       left join {{ ref('partner_code_map') }} as m
         on m.source_id = '{{ source_id }}'
        and m.code_list = '{{ code_list }}'
        and m.partner_code = lower(c.choice))
{%- endmacro %}


{#
  One value for a set of codes (see `stage_persons`): an unmapped choice first (so the isolation
  check holds the delivery back), then '0' when any choice is '0' (for a yes/no indicator such as
  safe water: every listed source must be safe), then the code every choice shares, else '_U'.
#}
{% macro reduce_code_set(codes) -%}
    (select case
                when count(*) = 0 then null
                when bool_or(code like 'UNMAPPED:%') then min(code) filter (where code like 'UNMAPPED:%')
                when bool_or(code = '0') then '0'
                when count(distinct code) = 1 then min(code)
                else '_U'
            end
       from unnest({{ codes }}) as s(code))
{%- endmacro %}


{#- Whether the registry marks a source's field `multiple: true` (the `lnob_sources` seed). -#}
{% macro is_multiple_field(source_id, field_name) -%}
    coalesce((select '{{ field_name }}' = any(string_to_array(s.multiple_fields, ';'))
                from {{ ref('lnob_sources') }} as s
               where s.source_id = '{{ source_id }}'), false)
{%- endmacro %}
