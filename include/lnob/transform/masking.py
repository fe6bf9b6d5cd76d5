"""What a quarantine reason, a log line, an XCom or the report may say about a partner's data.

A reason names the file, the row, the column and what was expected; of the value it found it shows
only a short masked excerpt: digits replaced by ``#``, at most :data:`MAX_EXCERPT` characters, a
value of several words or a long one described by its shape only (``text of 14 chars: letters,
2 words``). A field the registry marks ``identifier``, ``pseudonymise`` or ``free_text`` never shows
even a masked value, only its shape. So no name, phone number or testimony reaches the reason file,
the delivery ledger, the run log, Airflow's task logs and XComs, or the run report; and a reason
stays small (a reason once quoted the whole offending file: 17.5 MB for a 1.5 MB delivery).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lnob.ingest.landing import safe_name

MAX_EXCERPT = 20
_DIGIT = re.compile(r"\d")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")


def is_sensitive(field: Any) -> bool:
    """A registry field whose values never appear, even masked, outside the raw layer."""
    return bool(
        getattr(field, "identifier", False)
        or getattr(field, "pseudonymise", False)
        or getattr(field, "free_text", False)
    )


def sensitive_labels(src: Any) -> set[str]:
    """The partner labels and raw column names of a source's sensitive fields."""
    out: set[str] = set()
    for f in getattr(src, "fields", ()):
        if is_sensitive(f):
            out.update({f.name, f.label})
    return out


def shape(value: Any) -> str:
    """What a value looks like, without any of its characters: type, length, kinds of characters."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    s = str(value)
    if not s:
        return "empty text"
    kinds = [
        k
        for k, test in (("letters", str.isalpha), ("digits", str.isdigit), ("spaces", str.isspace))
        if any(test(ch) for ch in s)
    ]
    if any(not (ch.isalnum() or ch.isspace()) for ch in s):
        kinds.append("other characters")
    words = len(s.split())
    return f"text of {len(s)} chars: {', '.join(kinds)}" + (f", {words} words" if words > 1 else "")


def excerpt(value: Any, sensitive: bool = False) -> str:
    """A bounded, masked excerpt of a value a partner sent: its shape only when the field is
    sensitive or the value is long or several words; otherwise the value with digits masked."""
    if value is None:
        return "nothing"
    s = value if isinstance(value, str) else str(value)
    if s == "":
        return "empty"
    if sensitive or len(s) > MAX_EXCERPT or len(s.split()) > 1 or not s.isprintable():
        return shape(s)
    return _DIGIT.sub("#", s)


def message(text: str, limit: int = 160) -> str:
    """An error message of a library (openpyxl, csv, sdmx1) with anything it quotes from the
    file replaced by ``'…'``, digits masked and the rest bounded."""
    return safe_name(_DIGIT.sub("#", _QUOTED.sub("'…'", str(text))), limit)


def mask_sample(sample: Any, sensitive: bool = False, columns: set[str] | None = None) -> Any:
    """A Great Expectations failure sample (``partial_unexpected_list``, or ``unexpected_rows``
    as dicts) with sensitive values reduced to their shape and every text bounded."""
    columns = columns or set()
    if isinstance(sample, list):
        return [mask_sample(v, sensitive, columns) for v in sample[:5]]
    if isinstance(sample, dict):
        return {k: mask_sample(v, sensitive or k in columns, columns) for k, v in list(sample.items())[:40]}
    if sensitive:
        return shape(sample)
    if isinstance(sample, str) and len(sample) > 80:
        return shape(sample)
    return sample


def bound_reason(reason: dict, limit: int = 64 * 1024) -> dict:
    """Keep a reason under ``limit`` bytes of JSON (in place, and returned): long texts are
    shortened, then errors are dropped from the end (``errors_total`` still counts them all)."""

    def size() -> int:
        return len(json.dumps(reason, default=str).encode())

    if size() <= limit:
        return reason
    for err in reason.get("errors") or []:
        if isinstance(err, dict):
            for k, v in list(err.items()):
                if isinstance(v, str) and len(v) > 200:
                    err[k] = v[:199] + "…"
                elif isinstance(v, (list, dict)) and len(json.dumps(v, default=str)) > 1000:
                    err[k] = f"{type(v).__name__} of {len(v)} items (too long to show)"
    for k, v in list(reason.items()):
        if isinstance(v, str) and len(v) > 4096:
            reason[k] = v[:4095] + "…"
    errors = reason.get("errors")
    if isinstance(errors, list):
        reason.setdefault("errors_total", len(errors))
        while errors and size() > limit:
            errors.pop()
        reason["errors_shown"] = len(errors)
    if size() > limit:  # nothing left to shorten: say so rather than write more
        kept = {
            k: str(reason[k])[:200]
            for k in ("partner", "source", "kind", "delivery_date", "sha256", "errors_total")
            if k in reason
        }
        reason.clear()
        reason.update({**kept, "errors": [], "note": f"reason shortened to stay under {limit} bytes"})
    return reason
