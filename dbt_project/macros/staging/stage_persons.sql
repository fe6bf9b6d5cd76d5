{#
  Staging of a community survey (one row per person): rename, cast, recode, pseudonymise.

  Every community source yields the same columns in the same order (`person_columns()`), so the
  intermediate layer is a plain `union all`. A source maps each canonical column to an expression
  over its raw table; what it does not collect is null.

    columns: canonical column -> SQL expression over the raw columns; for a coded column,
             a pair (raw column, code map name in the registry), recoded through partner_code_map.
             Only what differs from `person_defaults()` is given: a column the defaults fill
             and the source does not collect is `none`; `record_key` defaults to `person_pid`.

  A coded field the registry marks `multiple: true` (a KoboToolbox select_multiple answer, choice
  names separated by spaces) is recoded choice by choice (`recode_set`); the column gets the set's
  one value (`reduce_code_set`: an unmapped choice first, then '0' if any choice is '0', else the
  code all choices share, else '_U') and, where the person columns have `<column>_set`, the recoded
  set itself (a JSON array of codes, in the order given; one code for a single-choice field).
  Making a field `multiple` needs no restage: a single choice reduces to its own code either way,
  and a delivery whose lists were staged as `UNMAPPED:` before was held back (retry it). Which fields are sets is read at run time from the registry's `lnob_sources` seed,
  so a model stays a plain call.

  Names, phone numbers, GPS and raw ids are never selected: the ids go on only as keyed-hash
  pseudonyms (`pseudonym` macro), and only the columns listed here leave the raw layer.
#}

{% macro person_columns() -%}
    {{ return([
        ('person_pid', 'text'), ('household_pid', 'text'),
        ('record_key', 'text'), ('record_version', 'timestamptz'), ('review_state', 'text'),
        ('delivery_id', 'bigint'), ('row_number', 'bigint'), ('partner_id', 'text'), ('source_id', 'text'),
        ('country_iso3', 'text'), ('area_code', 'text'), ('urbanisation', 'text'), ('sex', 'text'),
        ('age', 'integer'),
        ('wg_seeing', 'integer'), ('wg_hearing', 'integer'), ('wg_walking', 'integer'),
        ('wg_remembering', 'integer'), ('wg_selfcare', 'integer'), ('wg_communicating', 'integer'),
        ('ethnicity_group', 'text'), ('caste_group', 'text'), ('displacement_group', 'text'),
        ('poverty_group', 'text'),
        ('water_safe', 'text'), ('water_safe_set', 'jsonb'), ('birth_registered', 'text'), ('felt_discriminated', 'text'),
        ('health_need', 'text'), ('health_access', 'text'),
        ('consumption_month', 'numeric'), ('oop_health_12m', 'numeric'),
        ('survey_weight', 'double precision'),
        ('interview_date', 'date'), ('delivery_date', 'date'), ('loaded_at', 'timestamptz'),
        ('staging_version', 'text'), ('staged_at', 'timestamptz'),
    ]) }}
{%- endmacro %}


{#- What every community survey collects under the same name and code map, so that a source's
    model names only what differs. `lnob registry generate` reads these lines (one `'column': expr,`
    a line) to leave out what a source's registry entry would repeat. -#}
{% macro person_defaults() -%}
    {{ return({
        'person_pid': pseudonym('person_id'),
        'household_pid': pseudonym('household_id'),
        'record_version': '_loaded_at',
        'area_code': ('admin1', 'admin1'),
        'urbanisation': ('urbanisation', 'urbanisation'),
        'sex': ('sex', 'sex'),
        'age': 'age',
        'wg_seeing': ('wg_seeing', 'wg'),
        'wg_hearing': ('wg_hearing', 'wg'),
        'wg_walking': ('wg_walking', 'wg'),
        'wg_remembering': ('wg_remembering', 'wg'),
        'wg_selfcare': ('wg_selfcare', 'wg'),
        'wg_communicating': ('wg_communicating', 'wg'),
        'water_safe': ('water_source', 'water_safe'),
        'survey_weight': '1.0',
        'interview_date': 'interview_date',
    }) }}
{%- endmacro %}


{% macro stage_persons(source_id, country_iso3, columns) -%}
{%- set wg_domains = ['wg_seeing', 'wg_hearing', 'wg_walking', 'wg_remembering', 'wg_selfcare', 'wg_communicating'] -%}
{%- set lineage = {
    'delivery_id': '_delivery_id',
    'row_number': '_row_number',
    'partner_id': '_partner_id',
    'source_id': '_source_id',
    'country_iso3': "'" ~ country_iso3 ~ "'",
    'delivery_date': '_delivery_date',
    'loaded_at': '_loaded_at',
    'staging_version': 'staging_version.v',
    'staged_at': 'now()',
} -%}
{%- for key in columns if key in lineage -%}
    {{ exceptions.raise_compiler_error("stage_persons(" ~ source_id ~ "): '" ~ key ~ "' is lineage, set by the macro") }}
{%- endfor -%}
{%- set known = person_columns() | map('first') | list -%}
{%- for key in columns if key not in known or key.endswith('_set') -%}
    {{ exceptions.raise_compiler_error("stage_persons(" ~ source_id ~ "): unknown column '" ~ key ~ "'; expected one of " ~ known | join(', ')) }}
{%- endfor -%}
{#- the defaults, what the source gives instead, and record_key as person_pid unless given -#}
{%- set given = columns -%}
{%- set columns = person_defaults() -%}
{%- do columns.update({'record_key': given.get('person_pid', columns['person_pid'])}) -%}
{%- do columns.update(given) -%}
{%- for key in given if given[key] is none -%}
    {%- do columns.pop(key) -%}
{%- endfor -%}
with

source as (

    select * from {{ source('raw', source_id) }}
    where {{ new_deliveries() }}

),

staging_version as (

    select {{ staging_version(source_id) }} as v

),

final as (

    select
    {%- for name, type in person_columns() %}
        {%- if name in lineage %}
        {{ lineage[name] }}::{{ type }}
        {%- elif name.endswith('_set') and name[:-4] in columns and columns[name[:-4]] is not string %}
        {#- the recoded set of a coded column: every choice of a `multiple` field, else the one code -#}
        {%- set base = columns[name[:-4]] %}
        to_jsonb(case when {{ is_multiple_field(source_id, base[0]) }}
                      then {{ recode_set(source_id, base[1], base[0] ~ '::text') }}
                      else array_remove(array[{{ recode(source_id, base[1], base[0] ~ '::text') }}], null)
                 end)::{{ type }}
        {%- elif name not in columns %}
        null::{{ type }}
        {%- elif columns[name] is not string %}
        {#- (raw column, code map): recode; Washington Group answers become 1..4, don't know null -#}
        {%- set single = recode(source_id, columns[name][1], columns[name][0] ~ '::text') %}
        {%- set multiple = is_multiple_field(source_id, columns[name][0]) %}
        {%- set coded = 'case when ' ~ multiple ~ ' then ' ~ reduce_code_set(recode_set(source_id, columns[name][1], columns[name][0] ~ '::text')) ~ ' else ' ~ single ~ ' end' %}
        {%- if name in wg_domains %}
        case {{ coded }} when '1' then 1 when '2' then 2 when '3' then 3 when '4' then 4 end::integer
        {%- else %}
        ({{ coded }})::{{ type }}
        {%- endif %}
        {%- else %}
        ({{ columns[name] }})::{{ type }}
        {%- endif %} as {{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
    from source
    cross join staging_version

)

select * from final
{%- endmacro %}
