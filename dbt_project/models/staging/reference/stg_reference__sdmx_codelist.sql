{#- The extended SDMX codelists: one row per codelist and code, the one place that says what a
    valid code is. The DSD's codelists (seed sdmx_codes) with the partnership's declared
    extensions:
      SERIES             the SDG series (sdg_series), the partnership's own (lnob_series) and the
                         series the registry declares (lnob_national_series: national `_L_...`
                         series, global series newer than the vendored list)
      CL_CUST_BREAKDOWN  + the LNOB groups (lnob_custom_breakdowns, with the registry's labels)
      CL_AREA            + the first-level areas (lnob_areas, ISO 3166-2)
    `extension` names the seed a code comes from when it is not the DSD's own (null for the DSD's).
    Readers: the in_codelist test and the SDMX staging (macro sdmx_codelist_codes), the persons
    suite of the mart gate (lnob.quality.gates), the per-source checks (lnob.quality.isolation). A table with a
    unique index, rebuilt with staging (after the seeds): the SDMX staging looks a code up per row. -#}
{{ config(
    materialized='table',
    post_hook="create unique index if not exists {{ this.name }}__key on {{ this }} (codelist_id, code)",
) }}

with

dsd as (

    select codelist_id, code, name as label, null::text as extension, 3 as rank
    from {{ ref('sdmx_codes') }}

),

series as (

    select 'SERIES' as codelist_id, series_code as code, series_name as label,
           'sdg_series' as extension, 2 as rank
    from {{ ref('sdg_series') }}
    union all
    select 'SERIES', series_code, series_name, 'lnob_series', 1 from {{ ref('lnob_series') }}
    union all
    select 'SERIES', series_code, series_name, 'lnob_national_series', 0
    from {{ ref('lnob_national_series') }}

),

groups as (

    select 'CL_CUST_BREAKDOWN' as codelist_id, cust_breakdown as code, label,
           'lnob_custom_breakdowns' as extension, 0 as rank
    from {{ ref('lnob_custom_breakdowns') }}

),

areas as (

    select 'CL_AREA' as codelist_id, area_code as code, area_name as label,
           'lnob_areas' as extension, 0 as rank
    from {{ ref('lnob_areas') }}

),

unioned as (

    select * from dsd
    union all
    select * from series
    union all
    select * from groups
    union all
    select * from areas

),

-- a code declared twice (a national series the vendored list has since caught up with) is one code;
-- the declaration nearest the partnership labels it
ranked as (

    select distinct on (codelist_id, code)
        codelist_id::text as codelist_id,
        code::text        as code,
        label::text       as label,
        extension::text   as extension
    from unioned
    order by codelist_id, code, rank

)

select * from ranked
