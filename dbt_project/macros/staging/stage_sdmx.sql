{#
  Staging of an SDMX-ML source (one row per observation), for any source of type `sdmx_ml`: the
  model file is `{{ stage_sdmx_observations('<source_id>') }}` under its incremental config, and
  everything source-specific comes from seeds the registry generates (partner_code_map,
  lnob_sources, lnob_partners, lnob_national_series), never from this macro.

  Each DSD dimension and coded attribute is recoded the same way (`sdmx_recode`):
    - blank (a dimension left out of the series key): its total `_T`, or the attribute's default;
    - a spelling the source's code map of the same name maps (`codes: <column>` in the registry,
      compared trimmed and case-insensitively; checked first, so a national code that happens to
      be a DSD code too, `KE` in CL_AREA, is still turned into the partnership's `404`);
    - a code of the column's codelist (sdmx_codelist_codes: the DSD with the partnership's
      extensions and the registry's declared series) passes as delivered;
    - anything else: `UNMAPPED:<code>`, which holds the delivery back, naming it (lnob.quality.isolation).
  REF_AREA accepts the registry's countries (M49) and first-level areas only: an area the registry
  does not know would be published without a name.

  Output columns are those of every official staging model (_official__models.yml).
#}

{% macro sdmx_columns() -%}
    {#- (column, codelist, default when blank) in the order of the official staging models -#}
    {{ return([
        ('freq', 'CL_FREQ', "'A'"), ('reporting_type', 'CL_REPORTING_TYPE', "'N'"),
        ('series', 'SERIES', 'null'), ('ref_area', 'LNOB_AREA', 'null'),
        ('sex', 'CL_SEX', "'_T'"), ('age', 'CL_AGE', "'_T'"), ('urbanisation', 'CL_URBANISATION', "'_T'"),
        ('income_wealth_quantile', 'CL_QUANTILE', "'_T'"), ('education_lev', 'CL_EDUCATION_LEV', "'_T'"),
        ('occupation', 'CL_OCCUPATION', "'_T'"), ('cust_breakdown', 'CL_CUST_BREAKDOWN', "'_T'"),
        ('composite_breakdown', 'CL_COMP_BREAKDOWN', "'_T'"), ('disability_status', 'CL_DISABILITY', "'_T'"),
        ('activity', 'CL_ACTIVITY', "'_T'"), ('product', 'CL_PRODUCT', "'_T'"),
    ]) }}
{%- endmacro %}


{% macro sdmx_recode(source_id, column, codelist, default) -%}
    case
        when nullif(trim({{ column }}), '') is null then {{ default }}
        else coalesce(
            (select m.canonical_code
               from {{ ref('partner_code_map') }} as m
              where m.source_id = '{{ source_id }}'
                and m.code_list = '{{ column }}'
                and m.partner_code = lower(trim({{ column }}))),
            (select valid.code
               from (
                   {%- if codelist == 'LNOB_AREA' %}
                   select m49 as code from {{ ref('lnob_countries') }}
                   union all select area_code from {{ ref('lnob_areas') }}
                   {%- else %}
                   {{ sdmx_codelist_codes(codelist) }}
                   {%- endif %}
               ) as valid
              where valid.code = trim({{ column }})
              limit 1),
            'UNMAPPED:' || trim({{ column }})
        )
    end
{%- endmacro %}


{% macro stage_sdmx_observations(source_id) -%}
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

recoded as (

    select
        raw.*,
        {%- for column, codelist, default in sdmx_columns() %}
        {{ sdmx_recode(source_id, column, codelist, default) }} as sdmx_{{ column }},
        {%- endfor %}
        {{ sdmx_recode(source_id, 'unit_measure', 'CL_UNIT_MEASURE', 'null') }} as sdmx_unit_measure,
        {{ sdmx_recode(source_id, 'unit_mult', 'CL_UNIT_MULT', "'0'") }} as sdmx_unit_mult,
        {{ sdmx_recode(source_id, 'obs_status', 'CL_OBS_STATUS', "'A'") }} as sdmx_obs_status,
        {{ sdmx_recode(source_id, 'nature', 'CL_NATURE', "'C'") }} as sdmx_nature
    from raw

),

series_unit as (

    select series_code, unit_measure from {{ ref('sdg_series') }}
    union all select series_code, unit_measure from {{ ref('lnob_series') }}
    union all select series_code, unit_measure from {{ ref('lnob_national_series') }}

),

final as (

    select
        {{ delivery_lineage() }},
        {%- for column, codelist, default in sdmx_columns() %}
        sdmx_{{ column }}::text                                                              as {{ column }},
        {%- endfor %}
        trim(time_period)                                                                   as time_period,
        obs_value::double precision                                                         as obs_value,
        coalesce(sdmx_unit_measure,
                 (select u.unit_measure from series_unit as u where u.series_code = recoded.sdmx_series limit 1),
                 'PT')::text                                                                as unit_measure,
        sdmx_unit_mult::text                                                                as unit_mult,
        sdmx_obs_status::text                                                               as obs_status,
        sdmx_nature::text                                                                   as nature,
        null::double precision                                                              as lower_bound,
        null::double precision                                                              as upper_bound,
        ((select partner_name from producer) || ', SDMX ' || _file_name)::text              as source_detail,
        null::text                                                                          as comment_obs,
        {{ staging_version(source_id) }}                                                    as staging_version
    from recoded

)

select * from final
{%- endmacro %}
