{#
  Staging of a community survey (one row per person): rename, cast, recode, pseudonymise.

  Every community source yields the same columns in the same order (`person_columns()`), so the
  intermediate layer is a plain `union all`. A source maps each canonical column to an expression
  over its raw table; what it does not collect is null.

    columns: canonical column -> SQL expression over the raw columns; for a coded column,
             a pair (raw column, code map name in the registry), recoded through partner_code_map.

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
        ('water_safe', 'text'), ('birth_registered', 'text'), ('felt_discriminated', 'text'),
        ('health_need', 'text'), ('health_access', 'text'),
        ('consumption_month', 'numeric'), ('oop_health_12m', 'numeric'),
        ('survey_weight', 'double precision'),
        ('interview_date', 'date'), ('delivery_date', 'date'), ('loaded_at', 'timestamptz'),
        ('staging_version', 'text'), ('staged_at', 'timestamptz'),
    ]) }}
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
{%- for key in columns if key not in known -%}
    {{ exceptions.raise_compiler_error("stage_persons(" ~ source_id ~ "): unknown column '" ~ key ~ "'; expected one of " ~ known | join(', ')) }}
{%- endfor -%}
with

source as (

    select * from {{ source('raw', source_id) }}
    where {{ new_deliveries() }}

),

staging_version as (

    select {{ staging_version(source_id) }} as v

)

select
{%- for name, type in person_columns() %}
    {%- if name in lineage %}
    {{ lineage[name] }}::{{ type }}
    {%- elif name not in columns %}
    null::{{ type }}
    {%- elif columns[name] is not string %}
    {#- (raw column, code map): recode; Washington Group answers become 1..4, don't know null -#}
    {%- set coded = recode(source_id, columns[name][1], columns[name][0] ~ '::text') %}
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
{%- endmacro %}
