{#
  Staging of a voices source (one row per testimony as delivered): rename, cast, recode,
  pseudonymise, scrub.

  Every voices source has the registry's voices contract (`&voices_fields`), so every staging
  model yields the same columns (`testimony_columns()`) and the intermediate layer is a plain
  `union all`. What leaves the raw layer:
    - the testimony id only as a keyed-hash pseudonym (`pseudonym` macro);
    - the text only through `scrub_identifiers`, which also removes the names the row itself
      carries (respondent_name, recorded_by);
    - consent as a boolean: true only for a canonical yes; no, don't know, refused, an empty or an
      unmapped answer all mean "do not publish";
    - the language only when it is a language code (the contract types it as free text: anything
      else, a name or a phone number typed into it, becomes null).
  Scrubbing is a safety net, not the rule: a testimony is published only after a person approved
  it (lnob.transform.voices, lnob_meta.testimony_review, int_testimonies_reviewed).
  The respondent's name, the recorder and the raw text and id are never selected.
#}

{% macro testimony_columns() -%}
    {{ return([
        ('testimony_pid', 'text'),
        ('delivery_id', 'bigint'), ('row_number', 'bigint'), ('partner_id', 'text'), ('source_id', 'text'),
        ('country_iso3', 'text'), ('area_code', 'text'), ('theme', 'text'), ('voice_group', 'text'),
        ('language', 'text'), ('has_consent', 'boolean'), ('testimony_text', 'text'),
        ('recorded_on', 'date'), ('delivery_date', 'date'), ('loaded_at', 'timestamptz'),
        ('staging_version', 'text'), ('staged_at', 'timestamptz'),
    ]) }}
{%- endmacro %}


{% macro stage_testimonies(source_id, country_iso3) -%}
with

source as (

    select * from {{ source('raw', source_id) }}
    where {{ new_deliveries() }}

),

staging_version as (

    select {{ staging_version(source_id) }} as v

),

renamed as (

    select
        -- ids
        {{ pseudonym('testimony_id') }}::text                                   as testimony_pid,
        _delivery_id::bigint                                                    as delivery_id,
        _row_number::bigint                                                     as row_number,
        _partner_id::text                                                       as partner_id,
        _source_id::text                                                        as source_id,

        -- codes
        '{{ country_iso3 }}'::text                                              as country_iso3,
        ({{ recode(source_id, 'admin1', 'admin1::text') }})::text               as area_code,
        ({{ recode(source_id, 'theme', 'theme::text') }})::text                 as theme,
        ({{ recode(source_id, 'voice_group', '"group"::text') }})::text         as voice_group,
        -- a language code (ISO 639-1/-2/-3, optional subtag) or nothing: the column is free text
        -- in the contract, and a name or phone number typed into it must not travel on
        case when lower(trim(language)) ~ '^[a-z]{2,3}(-[a-z0-9]{2,8})?$'
             then lower(trim(language)) end::text                               as language,
        coalesce(({{ recode(source_id, 'yes_no', 'consent_to_publish::text') }}) = '1', false)
                                                                                as has_consent,

        -- free text, identifying details removed
        ({{ scrub_identifiers('text::text', ['respondent_name::text', 'recorded_by::text']) }})::text
                                                                                as testimony_text,

        -- dates and lineage
        recorded_on::date                                                       as recorded_on,
        _delivery_date::date                                                    as delivery_date,
        _loaded_at::timestamptz                                                 as loaded_at,
        staging_version.v::text                                                 as staging_version,
        now()::timestamptz                                                      as staged_at
    from source
    cross join staging_version

),

final as (

    select {% for name, type in testimony_columns() %}{{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from renamed

)

select * from final
{%- endmacro %}
