{#- One row per person and community series they answer for: y = 1 if the person counts in the
    numerator, 0 if only in the denominator. The series definitions of the partnership:

      SH_XPD_EARN10 / 25  persons in households whose out-of-pocket health spending over 12 months
                          exceeds 10% / 25% of their annual consumption (3.8.2)
      SI_POV_NAHC         persons in households below the national poverty line (1.2.1)
      SG_REG_BRTH         children under 5 whose birth is registered (16.9.1)
      SH_H2O_SAFE         persons whose drinking water source is safely managed (6.1.1)
      VC_VOV_GDSD         persons aged 15+ who felt discriminated against in the last 12 months (10.3.1)
      _L_LNOB_HLTH_ACS    persons who needed health care in the last 12 months and received it:
                          a service-access proxy for 3.8.1 (the official index is not computable
                          from survey data)

    Don't know / refused / not applicable answers are not responses: they leave the denominator.

    `perturbation_key`: the person's record key of the cell key method (0..255; macro record_key_of_cell_key, kept in int_persons_harmonised), a keyed hash of
    the pseudonymised person id: the same person has the same key every night, and nobody without
    the pseudonymisation key can compute it. -#}
{#- Incremental by unit (a household, or a person without one): a night deletes and recomputes
    the responses of the units it touched (lnob_sdg_touched_units: a member with a new version, a
    member's earlier version's unit, a member whose delivery left the ledger, a household whose
    health share or poverty status changed), and logs the fine cells of the rows it deleted and
    inserted (lnob_sdg_changed_cells) for int_sdg_fine_cells to recompute only those. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "set local work_mem = '" ~ var('aggregate_work_mem') ~ "'",
        "{{ lnob_sdg_touched_units() }}",
    ],
    post_hook=["{{ lnob_sdg_responses_logged() }}"],
) }}

with

persons as (

    select * from {{ ref('int_persons_harmonised') }}
    where not is_rejected
    {% if is_incremental() %}
    and (source_id, {{ lnob_sdg_unit_id() }}) in (select source_id, unit_id from lnob_sdg_touched_units)
    {% endif %}

),

households as (

    select source_id, household_pid, health_share, below_poverty_line
    from {{ ref('int_households_harmonised') }}

),

people as (

    select
        persons.*, households.health_share, households.below_poverty_line
    from persons
    left join households using (source_id, household_pid)

),

responses as (

    -- one pass over the people, each series a row of a lateral list (y null: no response); the
    -- people are not materialised and read once per series (a union of 7 scans of a CTE)
    select answers.series, people.*, answers.y
    from people
    cross join lateral (
        values
            ('SH_XPD_EARN10', case when health_share is not null then (health_share > 0.10)::int end),
            ('SH_XPD_EARN25', case when health_share is not null then (health_share > 0.25)::int end),
            ('SI_POV_NAHC', below_poverty_line::int),
            ('SG_REG_BRTH', case when age < 5 and birth_registered in ('0', '1') then birth_registered::int end),
            ('SH_H2O_SAFE', case when water_safe in ('0', '1') then water_safe::int end),
            ('VC_VOV_GDSD', case when age >= 15 and felt_discriminated in ('0', '1') then felt_discriminated::int end),
            ('_L_LNOB_HLTH_ACS', case when health_need = '1' and health_access in ('0', '1') then health_access::int end)
    ) as answers (series, y)
    where answers.y is not null

),

final as (

    select
        series, partner_id, source_id, country_m49, area_code, time_period,
        sex, age_group, urbanisation, disability_status, migrant_status,
        ethnicity_group, caste_group, displacement_group, poverty_group,
        survey_weight, y,
        -- harmonised once per record version (int_persons_harmonised); a row harmonised before that
        -- column existed gets it here
        coalesce(perturbation_key, {{ record_key_of_cell_key('person_pid') }}) as perturbation_key,
        -- what the night's delta maintenance keys on (macros/sdg_delta.sql)
        record_key,
        {{ lnob_sdg_unit_id() }}                                    as unit_id,
        delivery_id,
        harmonised_at,
        {{ lnob_sdg_fine_cell_id() }}                               as fine_cell_id
    from responses

)

select * from final
