{#
  Staging of a UN SDG Global Database API source (API v1 `Series/Data` pages), one row per
  observation, for any source of type `unsd_sdg_api`: the model file is
  `{{ stage_unsd_observations('<source_id>') }}` under its incremental config. The API speaks its
  own codes (BOTHSEX, ALLAGE, ALLAREA, PERCENT): recoded to the IAEG-SDGs DSD through the source's
  code maps, each named after the column it recodes (`sex`, `age`, `urbanisation`, `units` in the
  registry); the producer's name (source_detail) from lnob_sources/lnob_partners. The global
  database carries national totals and a few standard breakdowns only. A value that is not a number
  (`<5`, `NaN`, `>95`) is kept as a missing value (OBS_STATUS O) with the delivered text in
  COMMENT_OBS, never guessed.
#}
{% macro stage_unsd_observations(source_id) -%}
with

raw as (

    select * from {{ source('raw', source_id) }}
    where {{ new_deliveries() }}

),

producer as (

    select partners.partner_name
    from {{ ref('lnob_sources') }} as sources
    join {{ ref('lnob_partners') }} as partners on partners.partner_id = sources.partner_id
    where sources.source_id = '{{ source_id }}'

),

typed as (

    select
        raw.*,
        case when trim(raw.value) ~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
             then trim(raw.value)::double precision end                                 as numeric_value
    from raw

),

final as (

    select
        {{ delivery_lineage() }},
        'A'::text                                                                           as freq,
        coalesce(nullif(trim(reporting_type), ''), 'G')                                     as reporting_type,
        upper(trim(series))                                                                 as series,
        case when trim(geo_area_code) ~ '^[0-9]+$' then (trim(geo_area_code)::integer)::text
             else 'UNMAPPED:' || trim(geo_area_code) end                                    as ref_area,
        coalesce({{ recode(source_id, 'sex', 'sex') }}, '_T')                               as sex,
        coalesce({{ recode(source_id, 'age', 'age') }}, '_T')                               as age,
        coalesce({{ recode(source_id, 'urbanisation', 'urbanisation') }}, '_T')             as urbanisation,
        '_T'::text                                                                          as income_wealth_quantile,
        '_T'::text                                                                          as education_lev,
        '_T'::text                                                                          as occupation,
        '_T'::text                                                                          as cust_breakdown,
        '_T'::text                                                                          as composite_breakdown,
        '_T'::text                                                                          as disability_status,
        '_T'::text                                                                          as activity,
        '_T'::text                                                                          as product,
        trunc(time_period)::integer::text                                                   as time_period,
        numeric_value                                                                       as obs_value,
        {{ recode(source_id, 'units', 'units') }}                                           as unit_measure,
        '0'::text                                                                           as unit_mult,
        case when numeric_value is null then 'O' else 'A' end::text                         as obs_status,
        coalesce(nullif(trim(nature), ''), '_X')                                            as nature,
        lower_bound::double precision                                                       as lower_bound,
        upper_bound::double precision                                                       as upper_bound,
        ((select partner_name from producer)
            || coalesce(': ' || nullif(trim(data_source), ''), ''))::text                   as source_detail,
        case when numeric_value is null
             then 'Value delivered as ' || quote_literal(coalesce(value, '')) || ', not a number' end::text
                                                                                            as comment_obs,
        {{ staging_version(source_id) }}                                                    as staging_version
    from typed

)

select * from final
{%- endmacro %}
