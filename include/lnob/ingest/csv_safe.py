"""CSV cells a spreadsheet cannot read as a formula (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and, in some versions, a tab or a carriage return before them) as a formula: a partner's label
``=HYPERLINK("http://x","y")`` or a testimony ``+cmd|' /C calc'!A0`` would run on the analyst's
machine. Every CSV the exports write passes its text cells through :func:`cell`, which puts a
single quote before such a cell (what OWASP recommends; a spreadsheet shows the text as typed).
Numeric columns are never touched, so ``-1.5`` stays a number; the machine formats (Parquet,
SDMX-ML) carry values verbatim.
"""

from __future__ import annotations

#: what makes a spreadsheet read a cell as a formula
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
PREFIX = "'"


def cell(value):
    """``value`` with a leading ``'`` if it is text a spreadsheet would evaluate; anything else as is."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return PREFIX + value
    return value


def is_safe(value) -> bool:
    """Whether a cell as written (a string read back from the CSV) cannot start a formula."""
    return not (isinstance(value, str) and value.startswith(TRIGGERS))


def sql_cell(column: str) -> str:
    """A SQL expression of the quoted ``column`` (a column of PostgreSQL's string type category:
    text, varchar, char, name, citext) neutralised as :func:`cell` does."""
    return (
        f"case when left({column}, 1) in ('=', '+', '-', '@', E'\\t', E'\\r') "
        f"then '{PREFIX * 2}' || {column} else {column} end"
    )
