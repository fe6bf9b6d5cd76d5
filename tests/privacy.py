"""What the registry says must never be published, for the tests: the names of its identifier and
pseudonymised fields (canonical and the partner's own) and every value delivered in them."""

from __future__ import annotations

import unicodedata


def fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def identifier_fields(reg) -> dict[str, set[str]]:
    """source id -> the canonical names of its identifier and pseudonymised fields."""
    return {
        src.id: {f.name for f in src.fields if f.identifier or f.pseudonymise} for src in reg.sources.values()
    }


def identifier_names(reg) -> set[str]:
    """Every identifier or pseudonymised field name of the registry, canonical and as partners
    call it (``respondent_id``, ``member_name``, ``group_hh/head_name``...), lower case."""
    out = set()
    for src in reg.sources.values():
        for f in src.fields:
            if f.identifier or f.pseudonymise:
                out |= {f.name.lower(), f.label.lower(), f.label.lower().rsplit("/", 1)[-1]}
    return out


def delivered_identifier_values(cur, reg) -> set[str]:
    """Every value (folded, three characters or more) delivered in such a field, from raw."""
    values: set[str] = set()
    for source_id, fields in identifier_fields(reg).items():
        cur.execute("select to_regclass(%s) is not null", (f'raw."{source_id}"',))
        if not fields or not cur.fetchone()[0]:
            continue
        for name in sorted(fields):
            cur.execute(f'select distinct "{name}"::text from raw."{source_id}" where "{name}" is not null')
            values |= {fold(v) for (v,) in cur.fetchall() if len(fold(v)) >= 3}
    return values


def published_identifier_leaks(cur, reg, schema: str = "marts") -> list[str]:
    """Every published column named like an identifier field, and every published text value equal
    to a delivered identifier value (case and Unicode form aside), in every table and view of
    ``schema``."""
    names = identifier_names(reg)
    delivered = delivered_identifier_values(cur, reg)
    cur.execute(
        """select table_name, column_name, data_type from information_schema.columns
                   where table_schema = %s order by table_name, ordinal_position""",
        (schema,),
    )
    leaks = []
    for table, column, data_type in cur.fetchall():
        if column.lower() in names:
            leaks.append(f"{schema}.{table}.{column}: named like a registry identifier field")
        if data_type not in ("text", "character varying", "character"):
            continue  # an identifier travels as text; a count equal to a numeric id is no leak
        cur.execute(f'select distinct "{column}"::text from {schema}."{table}" where "{column}" is not null')
        hits = sorted({v for (v,) in cur.fetchall() if fold(v) in delivered})
        if hits:
            leaks.append(f"{schema}.{table}.{column}: {len(hits)} delivered identifier value(s)")
    return leaks
