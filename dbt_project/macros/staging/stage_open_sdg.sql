{#
  Stage an Open SDG source (`type: open_sdg_csv`): one CSV per indicator (`indicator_16-1-1.csv`),
  `Year`, any number of disaggregation columns, optional `Series`, `Units`, `GeoCode`, `Value`.

  The loader keeps the fixed columns typed and every other column of the file in `_overflow`
  (jsonb). Here each of those columns is read through the registry's Open SDG vocabulary (rows
  of `partner_code_map` for this source, see lnob.registry.vocabulary):
    - `open_sdg_column` / `open_sdg_dimension`: which column label is which SDMX dimension, LNOB
      group (CUST_BREAKDOWN) or attribute (OBS_STATUS, UNIT_MULT, COMMENT_OBS);
    - `col:<column>`: category label -> code; a blank cell and the column's total labels -> `_T`;
    - `area`: the country's, its areas' and regions' names and codes -> M49 or LNOB area code;
    - `series_by`, `series:<indicator>`: how the series is found without a Series value.
  A category nobody mapped stages as `UNMAPPED:<column>=<label>` and two non-total columns of one
  dimension in a row as `UNMAPPED:<column>=<label> + <column>=<label>`: the isolation check holds
  the delivery back naming them. A column the vocabulary does not know is held back by
  lnob.quality.isolation.unmapped_columns; it is never read as a total here.

  Nothing in this macro is specific to a source: the country comes from `lnob_sources`, the
  producer's name from `lnob_partners`. The output columns are those of every official staging
  model (see _official__models.yml).
#}
{% macro stage_open_sdg_observations(source_id) %}
{%- set dimensions = ['SEX', 'AGE', 'URBANISATION', 'INCOME_WEALTH_QUANTILE', 'EDUCATION_LEV',
                      'OCCUPATION', 'CUST_BREAKDOWN', 'COMPOSITE_BREAKDOWN', 'DISABILITY_STATUS',
                      'ACTIVITY', 'PRODUCT', 'REF_AREA'] -%}
with

raw as (

    select
        raw.*,
        replace(substring(raw._file_name from 'indicator_([0-9]+-[0-9a-z]+-[0-9]+)'), '-', '.') as indicator
    from {{ source('raw', source_id) }} as raw
    where {{ new_deliveries() }}

),

maps as (

    select code_list, partner_code, canonical_code
    from {{ ref('partner_code_map') }}
    where source_id = '{{ source_id }}'

),

source_country as (

    select countries.m49, partners.partner_name
    from {{ ref('lnob_sources') }} as sources
    left join {{ ref('lnob_countries') }} as countries on countries.iso3 = sources.country_iso3
    left join {{ ref('lnob_partners') }} as partners on partners.partner_id = sources.partner_id
    where sources.source_id = '{{ source_id }}'

),

cells as (

    -- one row per raw row and vocabulary column of the file
    select
        raw._delivery_id,
        raw._row_number,
        trim(e.key)                                                       as column_label,
        nullif(trim(e.value), '')                                         as category,
        col.canonical_code                                                as column_key,
        dim.canonical_code                                                as dimension
    from raw
    cross join lateral jsonb_each_text(coalesce(raw._overflow, '{}'::jsonb)) as e(key, value)
    join maps as col on col.code_list = 'open_sdg_column' and col.partner_code = lower(trim(e.key))
    join maps as dim on dim.code_list = 'open_sdg_dimension' and dim.partner_code = col.canonical_code

),

coded_cells as (

    select
        cells.*,
        case
            when cells.dimension in ('UNIT_MULT', 'COMMENT_OBS') then cells.category
            when cells.category is null then case when cells.dimension = 'OBS_STATUS' then null else '_T' end
            else coalesce(
                (select m.canonical_code from maps as m
                  where m.code_list = case when cells.dimension = 'REF_AREA' then 'area'
                                           else 'col:' || cells.column_key end
                    and m.partner_code = lower(cells.category)),
                'UNMAPPED:' || cells.column_label || '=' || cells.category)
        end                                                               as code
    from cells

),

breakdowns as (

    select
        _delivery_id,
        _row_number,
        {% for dim in dimensions %}
        case
            when count(*) filter (where dimension = '{{ dim }}' and code <> '_T') > 1
            then 'UNMAPPED:' || string_agg(column_label || '=' || category, ' + ' order by column_label)
                                filter (where dimension = '{{ dim }}' and code <> '_T')
            else max(code) filter (where dimension = '{{ dim }}' and code <> '_T')
        end                                                               as {{ dim | lower }},
        {% endfor %}
        max(code) filter (where dimension = 'OBS_STATUS')                 as obs_status,
        max(code) filter (where dimension = 'UNIT_MULT')                  as unit_mult,
        string_agg(code, '; ' order by column_label) filter (where dimension = 'COMMENT_OBS')
                                                                          as comment_obs
    from coded_cells
    group by 1, 2

),

series_names as (

    select
        series.series_code,
        lower(series.series_name)                                         as series_name,
        indicator.code                                                    as indicator,
        count(*) over (partition by indicator.code)                       as series_of_indicator
    from {{ ref('sdg_series') }} as series
    cross join lateral unnest(string_to_array(series.indicators, ',')) as indicator(code)

),

all_series as (

    select series_code, lower(series_name) as series_name from {{ ref('sdg_series') }}
    union all
    select series_code, lower(series_name) from {{ ref('lnob_series') }}

),

series_by as (

    -- the value of the column that tells this indicator's series apart (Units, or a column of its own)
    select
        raw._delivery_id,
        raw._row_number,
        by_column.canonical_code                                          as by_column,
        case by_column.canonical_code
            when 'units' then nullif(trim(raw.units), '')
            when 'series' then nullif(trim(raw.series), '')
            else (select nullif(trim(e.value), '') from jsonb_each_text(coalesce(raw._overflow, '{}'::jsonb)) as e(key, value)
                   where lower(trim(e.key)) = by_column.canonical_code limit 1)
        end                                                               as by_value
    from raw
    join maps as by_column on by_column.code_list = 'series_by' and by_column.partner_code = raw.indicator

),

coded as (

    select
        raw.*,
        b.sex, b.age, b.urbanisation, b.income_wealth_quantile, b.education_lev, b.occupation,
        b.composite_breakdown, b.disability_status, b.activity, b.product,
        b.obs_status                                                      as status_code,
        b.unit_mult                                                       as unit_mult_code,
        b.comment_obs                                                     as comment_text,
        b.cust_breakdown                                                  as group_code,
        coalesce(
            -- GeoCode first (a code), then the geography column (a name), else the country
            case when nullif(trim(raw.geo_code), '') is not null then coalesce(
                (select m.canonical_code from maps as m
                  where m.code_list = 'area' and m.partner_code = lower(trim(raw.geo_code))),
                'UNMAPPED:GeoCode=' || trim(raw.geo_code)) end,
            b.ref_area,
            (select m49 from source_country))                             as area_code,
        case
            when nullif(trim(raw.series), '') is not null then coalesce(
                (select s.series_code from all_series as s where s.series_code = upper(trim(raw.series)) limit 1),
                (select m.canonical_code from maps as m
                  where m.code_list = 'series:' || raw.indicator and m.partner_code = lower(trim(raw.series))),
                (select s.series_code from series_names as s
                  where s.indicator = raw.indicator and s.series_name = lower(trim(raw.series))
                  order by s.series_code limit 1),
                (select s.series_code from all_series as s
                  where s.series_name = lower(trim(raw.series)) order by s.series_code limit 1),
                'UNMAPPED:Series=' || trim(raw.series))
            when sb.by_column is not null then coalesce(
                (select m.canonical_code from maps as m
                  where m.code_list = 'series:' || raw.indicator and m.partner_code = lower(sb.by_value)),
                'UNMAPPED:' || sb.by_column || '=' || coalesce(sb.by_value, '(blank)'))
            else coalesce(
                (select m.canonical_code from maps as m
                  where m.code_list = 'series:' || raw.indicator and m.partner_code = '*'),
                (select s.series_code from series_names as s
                  where s.indicator = raw.indicator and s.series_of_indicator = 1),
                'UNMAPPED:' || coalesce(raw.indicator, raw._file_name))
        end                                                               as series_code,
        case
            when trim(raw.year) ~ '^[0-9]{4}$' then trim(raw.year)
            when trim(raw.year) ~* '^[0-9]{4}\s*-?\s*Q[1-4]$' then left(trim(raw.year), 4) || '-Q' || right(trim(raw.year), 1)
            when trim(raw.year) ~ '^[0-9]{4}-[0-9]{2}$' then trim(raw.year)
            else 'UNMAPPED:Year=' || raw.year
        end                                                               as period,
        case
            when trim(raw.year) ~* 'Q[1-4]$' then 'Q'
            when trim(raw.year) ~ '^[0-9]{4}-[0-9]{2}$' then 'M'
            else 'A'
        end                                                               as frequency
    from raw
    left join breakdowns as b on b._delivery_id = raw._delivery_id and b._row_number = raw._row_number
    left join series_by as sb on sb._delivery_id = raw._delivery_id and sb._row_number = raw._row_number

),

final as (

    select
        {{ delivery_lineage() }},
        frequency::text                                                                     as freq,
        'N'::text                                                                           as reporting_type,
        series_code                                                                         as series,
        area_code                                                                           as ref_area,
        coalesce(sex, '_T')                                                                 as sex,
        coalesce(age, '_T')                                                                 as age,
        coalesce(urbanisation, '_T')                                                        as urbanisation,
        coalesce(income_wealth_quantile, '_T')                                              as income_wealth_quantile,
        coalesce(education_lev, '_T')                                                       as education_lev,
        coalesce(occupation, '_T')                                                          as occupation,
        coalesce((select g.cust_breakdown from {{ ref('lnob_custom_breakdowns') }} as g
                   where g.group_code = coded.group_code), group_code, '_T')                as cust_breakdown,
        coalesce(composite_breakdown, '_T')                                                 as composite_breakdown,
        coalesce(disability_status, '_T')                                                   as disability_status,
        coalesce(activity, '_T')                                                            as activity,
        coalesce(product, '_T')                                                             as product,
        period                                                                              as time_period,
        value::double precision                                                             as obs_value,
        coalesce({{ recode(source_id, 'units', 'units') }},
                 (select unit_measure from {{ ref('sdg_series') }} where series_code = coded.series_code),
                 (select unit_measure from {{ ref('lnob_series') }} where series_code = coded.series_code))
                                                                                            as unit_measure,
        coalesce(unit_mult_code, '0')::text                                                 as unit_mult,
        coalesce(status_code, 'A')::text                                                    as obs_status,
        'C'::text                                                                           as nature,
        null::double precision                                                              as lower_bound,
        null::double precision                                                              as upper_bound,
        (coalesce((select partner_name from source_country), '{{ source_id }}') || ' (Open SDG): ' || _file_name)::text
                                                                                            as source_detail,
        comment_text::text                                                                  as comment_obs,
        {{ staging_version(source_id) }}                                                    as staging_version
    from coded

)

select * from final
{% endmacro %}
