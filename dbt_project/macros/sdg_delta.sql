{#
  Delta maintenance of the fine cells (int_sdg_responses -> int_sdg_fine_cells): a night
  re-aggregates only the fine cells whose respondents changed, not every person.

  int_sdg_responses is a table kept by unit: a household (the responses of its members depend on
  the household's health share and poverty status), or a person without one. Its pre-hook finds the
  units tonight touches (lnob_sdg_touched_units), logs the fine cells of their current rows in
  <schema>.int_sdg_responses__changed_cells and deletes those rows; the model inserts the units'
  responses again (nothing for a unit that left) and the post-hook logs the fine cells of the new
  rows. int_sdg_fine_cells deletes the logged cells and re-aggregates them from the responses (a
  cell left with no response stays deleted), then empties the log. A full build of the responses
  logs one null: every cell. `<schema>.int_sdg_responses__households` holds the households'
  health share and poverty status as the responses last used them.
#}

{#- The unit a response row is kept by: the household, or the person when there is none. -#}
{% macro lnob_sdg_unit_id() -%}
    coalesce(household_pid, 'person:' || record_key)
{%- endmacro %}

{#- The fine cell a response counts in: a digest of the cell's 14 dimensions (nulls included). -#}
{% macro lnob_sdg_fine_cell_id() -%}
    md5(row(series, partner_id, country_m49, area_code, time_period, sex, age_group, urbanisation,
            disability_status, migrant_status, ethnicity_group, caste_group, displacement_group,
            poverty_group)::text)::uuid
{%- endmacro %}

{% macro lnob_sdg_changed_cells(schema) -%}
    {{ schema }}.int_sdg_responses__changed_cells
{%- endmacro %}

{% macro lnob_sdg_households_used(schema) -%}
    {{ schema }}.int_sdg_responses__households
{%- endmacro %}

{#- int_sdg_responses' pre-hook (one transaction with the model and its post-hook). -#}
{% macro lnob_sdg_touched_units() %}
{%- set log = lnob_sdg_changed_cells(this.schema) -%}
{%- set used = lnob_sdg_households_used(this.schema) -%}
create table if not exists {{ log }} (fine_cell_id uuid);
drop table if exists pg_temp.lnob_sdg_touched_units;
{% if is_incremental() %}
create temp table lnob_sdg_touched_units on commit drop as
with

changed as (
    -- every record with a version harmonised since these responses were (rejections included)
    select source_id, record_key, {{ lnob_sdg_unit_id() }} as unit_id
    from {{ ref('int_persons_harmonised') }}
    where harmonised_at > (select coalesce(max(harmonised_at), '-infinity'::timestamptz) from {{ this }})
),

households as (
    select source_id, household_pid, health_share, below_poverty_line
    from {{ ref('int_households_harmonised') }}
    where household_pid is not null
),

households_changed as (
    -- a household whose share or poverty status moved: a member came, went (even one without a
    -- response of their own) or changed, or the poverty line did
    (select * from households except select * from {{ used }})
    union all
    (select * from {{ used }} except select * from households)
)

select source_id, unit_id from changed
union
-- the unit of a changed record's earlier version (a person who moved household); two scans, not
-- one with an OR: each is a semi-join the planner may hash, whatever the number of changes
select source_id, unit_id from {{ this }}
where (source_id, record_key) in (select source_id, record_key from changed)
union
-- a record whose delivery left the ledger (int_persons_harmonised dropped it or restored an
-- earlier version, which is in `changed`)
select source_id, unit_id from {{ this }}
where delivery_id in (select delivery_id from lnob_meta.delivery_ledger where status <> 'loaded')
union
select source_id, household_pid from households_changed;
analyze lnob_sdg_touched_units;
with gone as (
    delete from {{ this }}
    where (source_id, unit_id) in (select source_id, unit_id from lnob_sdg_touched_units)
    returning fine_cell_id
)
insert into {{ log }} select distinct fine_cell_id from gone;
delete from {{ used }}
where (source_id, household_pid) in (select source_id, unit_id from lnob_sdg_touched_units);
insert into {{ used }}
select source_id, household_pid, health_share, below_poverty_line
from {{ ref('int_households_harmonised') }}
where (source_id, household_pid) in (select source_id, unit_id from lnob_sdg_touched_units);
{% else %}
create temp table lnob_sdg_touched_units (source_id text, unit_id text) on commit drop;
insert into {{ log }} values (null);
drop table if exists {{ used }};
create table {{ used }} as
select source_id, household_pid, health_share, below_poverty_line
from {{ ref('int_households_harmonised') }}
where household_pid is not null;
{% endif %}
{% endmacro %}

{#- int_sdg_responses' post-hook: the fine cells of the rows inserted tonight. No index: at a
    million persons five indexes on the 2.5M responses took 32 s to build, and the few scans a
    night makes take well under a second each (a fine cell holds some 200 responses there, so 1%
    new persons touch most cells: the recomputation reads most rows anyway). -#}
{% macro lnob_sdg_responses_logged() %}
insert into {{ lnob_sdg_changed_cells(this.schema) }}
select distinct fine_cell_id from {{ this }}
where (source_id, unit_id) in (select source_id, unit_id from lnob_sdg_touched_units);
{% endmacro %}

{#- int_sdg_fine_cells' pre-hook: the cells to recompute (lnob_sdg_recompute; none and
    lnob_sdg_recompute_all when every cell is), deleted. -#}
{% macro lnob_sdg_fine_cells_cleared(schema) %}
{%- set log = lnob_sdg_changed_cells(schema) -%}
create table if not exists {{ log }} (fine_cell_id uuid);
drop table if exists pg_temp.lnob_sdg_recompute, pg_temp.lnob_sdg_recompute_all;
create temp table lnob_sdg_recompute_all on commit drop as
select exists (select 1 from {{ log }} where fine_cell_id is null) as every_cell;
create temp table lnob_sdg_recompute on commit drop as
select distinct fine_cell_id from {{ log }}
where fine_cell_id is not null and not (select every_cell from lnob_sdg_recompute_all);
analyze lnob_sdg_recompute;
{% if is_incremental() %}
delete from {{ this }} where (select every_cell from lnob_sdg_recompute_all);
delete from {{ this }} where fine_cell_id in (select fine_cell_id from lnob_sdg_recompute);
{% endif %}
{% endmacro %}
