{#- The partnership's custom breakdowns (CUST_BREAKDOWN C01..C99): the group, its label, the family
    it belongs to and whether it is a marginalised group. A copy of the registry's groups inside the
    published schema, so that the BI view labels observations from `marts` alone: a seed reload
    (`drop ... cascade`) can then never reach a published object. -#}
with final as (

    select
        groups.cust_breakdown::text         as cust_breakdown,
        groups.group_code::text             as group_code,
        groups.label::text                  as label,
        groups.dimension::text              as dimension,
        groups.is_marginalised::boolean     as is_marginalised
    from {{ ref('lnob_custom_breakdowns') }} as groups

)

select * from final
