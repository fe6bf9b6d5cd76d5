{#- Testimonies a person approved: the consented testimonies of int_testimonies joined to the
    review queue (lnob_meta.testimony_review, kept by lnob.transform.voices) on the version that was
    reviewed, so a new text of an approved testimony waits for a new review. The reviewer's
    edited text replaces the original when given; it passes the same scrubber (a safety net: the
    review already refused an edit with an automatic finding unless overridden). Pending, rejected
    and withdrawn testimonies never get here. -#}
with

testimonies as (

    select * from {{ ref('int_testimonies') }}

),

approved as (

    select * from {{ source('lnob_meta', 'testimony_review') }}
    where state = 'approved'

),

final as (

    select
        testimonies.source_id,
        testimonies.testimony_pid,
        testimonies.partner_id,
        testimonies.delivery_id,
        testimonies.country_iso3,
        testimonies.area_code,
        testimonies.theme,
        testimonies.voice_group,
        testimonies.language,
        case
            when approved.edited_text is not null
                then ({{ scrub_identifiers('approved.edited_text') }})::text
            else testimonies.testimony_text
        end                                                     as testimony_text,
        approved.edited_text is not null                        as is_edited,
        approved.override                                       as is_override,
        testimonies.recorded_on,
        testimonies.time_period,
        testimonies.staged_at
    from testimonies
    join approved
        on approved.source_id = testimonies.source_id
       and approved.testimony_key = testimonies.testimony_pid
       and approved.delivery_id = testimonies.delivery_id
       and approved.row_number = testimonies.row_number

)

select * from final
