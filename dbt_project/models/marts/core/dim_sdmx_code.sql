{#- The labels of the SDMX codes the marts publish (CL_SEX _T "Both sexes or no breakdown by sex",
    CL_AGE Y0T4 "under 5 years old", CL_OBS_STATUS Q "Missing value; suppressed", ...), one row per
    codelist and code, with the dimension or attribute that uses the codelist. A copy of the
    reference codelists inside the published schema: `lnob_bi_reader` reads `marts` only, and the
    BI views label their codes from here (never from a seed: publish refuses a view reading outside
    its schema). The partnership's custom breakdowns (CL_CUST_BREAKDOWN C01..C99, "Custom code 01"
    in the global codelist) carry the registry's group labels. -#}
with

codes as (

    select codelist_id, code, name from {{ ref('sdmx_codes') }}

),

concepts (codelist_id, concept) as (

    values
        ('CL_AREA', 'REF_AREA'), ('CL_SERIES', 'SERIES'), ('CL_FREQ', 'FREQ'),
        ('CL_REPORTING_TYPE', 'REPORTING_TYPE'), ('CL_SEX', 'SEX'), ('CL_AGE', 'AGE'),
        ('CL_URBANISATION', 'URBANISATION'), ('CL_QUANTILE', 'INCOME_WEALTH_QUANTILE'),
        ('CL_EDUCATION_LEV', 'EDUCATION_LEV'), ('CL_OCCUPATION', 'OCCUPATION'),
        ('CL_CUST_BREAKDOWN', 'CUST_BREAKDOWN'), ('CL_COMP_BREAKDOWN', 'COMPOSITE_BREAKDOWN'),
        ('CL_DISABILITY', 'DISABILITY_STATUS'), ('CL_ACTIVITY', 'ACTIVITY'), ('CL_PRODUCT', 'PRODUCT'),
        ('CL_UNIT_MEASURE', 'UNIT_MEASURE'), ('CL_UNIT_MULT', 'UNIT_MULT'), ('CL_OBS_STATUS', 'OBS_STATUS'),
        ('CL_NATURE', 'NATURE'), ('CL_GEO_INFO_TYPE', 'GEO_INFO_TYPE')

),

final as (

    select
        codes.codelist_id::text                                    as codelist_id,
        concepts.concept::text                                     as concept,
        codes.code::text                                           as code,
        coalesce(groups.label, codes.name)::text                   as label,
        (groups.cust_breakdown is not null)                        as is_lnob_group
    from codes
    left join concepts on concepts.codelist_id = codes.codelist_id
    left join {{ ref('lnob_custom_breakdowns') }} as groups
        on codes.codelist_id = 'CL_CUST_BREAKDOWN' and groups.cust_breakdown = codes.code

)

select * from final
