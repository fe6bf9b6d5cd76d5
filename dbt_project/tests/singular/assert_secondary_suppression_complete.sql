{#- No suppressed community cell can be recomputed from its total and its published siblings: the
    rules of `exposed_members` find nothing left to suppress. If this fails, raise `passes` in
    int_sdg_cells_suppressed. -#}
select exposed.cell_id, cells.series, cells.ref_area, cells.time_period, cells.family, cells.code
from ({{ exposed_members(ref('int_sdg_cells_suppressed')) }}) as exposed
join {{ ref('int_sdg_cells_suppressed') }} as cells using (cell_id)
