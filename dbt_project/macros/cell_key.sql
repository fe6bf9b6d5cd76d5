{#
  Cell key method (ABS TableBuilder; ONS, Census 2021). Every respondent carries a record key
  (0..255, int_sdg_responses, from the pseudonymisation key); a cell's key is the sum of its
  respondents' record keys modulo 256; the perturbation table (seed lnob_ptable) maps the cell's
  count and key to a noise of at most D = 2. See int_sdg_cells.
#}

{#- A count plus its noise. A count that may be published (at least LNOB_MIN_CELL) is never
    published below that minimum, so no published n looks like a small cell (still within D). -#}
{% macro perturbed_count(count, noise) -%}
    case when {{ count }} >= {{ var('min_cell') }}
         then greatest({{ count }} + coalesce({{ noise }}, 0), {{ var('min_cell') }})
         else {{ count }} + coalesce({{ noise }}, 0) end
{%- endmacro %}

{#- A respondent's record key (0 .. cell_key_range - 1): a keyed hash of the pseudonymised person id,
    so the same person has the same key every night and nobody without the pseudonymisation key can
    compute it. -#}
{% macro record_key_of_cell_key(person_pid) -%}
    (('x' || lpad(substr(lnob_meta.pseudonym('lnob:cell-key', {{ person_pid }}), 1, 8), 16, '0'))::bit(64)::bigint
        % {{ var('cell_key_range') }})::int
{%- endmacro %}
