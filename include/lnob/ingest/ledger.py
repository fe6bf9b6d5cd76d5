"""The delivery ledger (``lnob_meta.delivery_ledger``, created by :mod:`lnob.platform.meta`) as the loader
reads and writes it: one row per delivery, its current status (``meta.DELIVERY_STATUSES``).
Every function runs in the caller's transaction; the history of each change goes to
``delivery_events`` (:func:`lnob.platform.meta.log_delivery_event`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lnob.platform.config import META_SCHEMA

if TYPE_CHECKING:
    from lnob.ingest.load import Delivery

LEDGER = f"{META_SCHEMA}.delivery_ledger"


def known_sha256s(cur, source_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(source id, sha256) of every delivery of these sources the ledger holds, whatever its status."""
    cur.execute(f"select source_id, file_sha256 from {LEDGER} where source_id = any(%s)", (list(source_ids),))
    return {(r[0], r[1]) for r in cur.fetchall()}


def holds(cur, source_id: str, sha256: str, other_than: int | None = None) -> bool:
    """Whether the ledger holds this content of this source (a delivery other than ``other_than``)."""
    cur.execute(
        f"select delivery_id, status from {LEDGER} "
        "where source_id = %s and file_sha256 = %s and delivery_id is distinct from %s",
        (source_id, sha256, other_than),
    )
    return cur.fetchone() is not None


def next_id(cur) -> int:
    """A new delivery id (from the ledger's sequence)."""
    cur.execute(f"select nextval(pg_get_serial_sequence('{LEDGER}', 'delivery_id'))")
    return cur.fetchone()[0]


def forget(cur, delivery_id: int) -> None:
    """Remove a delivery's row (a retry or reload records it again under the same id)."""
    cur.execute(f"delete from {LEDGER} where delivery_id = %s", (delivery_id,))


def record(
    cur,
    delivery_id: int,
    source_id: str,
    delivery: Delivery,
    status: str,
    file_path: str,
    *,
    rows: int = 0,
    unexpected: list[str] | None = None,
    reason: dict | None = None,
    run_id: str | None,
    by: str,
    why: str | None,
) -> None:
    """Record a delivery ``loaded`` (with its rows and unexpected fields) or ``quarantined`` (with
    its reason, ``file_path`` its copy in the quarantine folder)."""
    cur.execute(
        f"""insert into {LEDGER}
            (delivery_id, source_id, partner_id, delivery_date, file_name, file_path,
             file_sha256, status, rows_loaded, unexpected_fields, run_id,
             changed_by, changed_at, change_reason, reason)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), %s, %s)""",
        (
            delivery_id,
            source_id,
            delivery.partner_id,
            delivery.delivery_date,
            delivery.file_name,
            file_path,
            delivery.sha256,
            status,
            rows,
            unexpected,
            run_id,
            by,
            why,
            json.dumps(reason) if reason else None,
        ),
    )


def supersede_by_name(cur, delivery_id: int, source_id: str, delivery: Delivery, by: str) -> list[int]:
    """Mark ``superseded`` by ``delivery_id`` the loaded deliveries of this source with the same
    date and file name (a corrected re-delivery of a file drop); their ids."""
    cur.execute(
        f"""update {LEDGER}
                set status = 'superseded', replaced_by = %s, changed_by = %s, changed_at = now(),
                change_reason = 'replaced by corrected re-delivery ' || %s::text,
                reason = jsonb_build_object('kind', 'replaced', 'replaced_by', %s::bigint,
                                            'file', file_name, 'rows_replaced', rows_loaded)
            where source_id = %s and delivery_date = %s and file_name = %s and status = 'loaded'
            returning delivery_id""",
        (delivery_id, by, delivery_id, delivery_id, source_id, delivery.delivery_date, delivery.file_name),
    )
    return [r[0] for r in cur.fetchall()]


def delivery(cur, delivery_id: int) -> tuple | None:
    """(source_id, partner_id, delivery_date, file_path, file_sha256, status) of a delivery."""
    cur.execute(
        f"""select source_id, partner_id, delivery_date, file_path, file_sha256, status
            from {LEDGER} where delivery_id = %s""",
        (delivery_id,),
    )
    return cur.fetchone()


def source_of(cur, delivery_id: int) -> str | None:
    """The source of a delivery, or ``None`` when the ledger does not know it."""
    cur.execute(f"select source_id from {LEDGER} where delivery_id = %s", (delivery_id,))
    found = cur.fetchone()
    return None if found is None else found[0]


def lock(cur, delivery_id: int) -> tuple:
    """A delivery's row, locked until the transaction ends: (source_id, partner_id,
    delivery_date, file_path, file_sha256, status, rows_loaded)."""
    cur.execute(
        "select source_id, partner_id, delivery_date, file_path, file_sha256, status, rows_loaded "
        f"from {LEDGER} where delivery_id = %s for update",
        (delivery_id,),
    )
    return cur.fetchone()


def mark(cur, delivery_id: int, status: str, reason: dict, file_path: str, by: str, why: str | None) -> None:
    """A loaded delivery's rows left raw: its new status, why, and where its file now is."""
    cur.execute(
        f"""update {LEDGER}
            set status = %s, reason = %s, file_path = %s, rows_loaded = 0,
                changed_by = %s, changed_at = now(), change_reason = %s
            where delivery_id = %s""",
        (status, json.dumps(reason, default=str), file_path, by, why, delivery_id),
    )


def quarantined(cur) -> list[dict]:
    """Every quarantined delivery with its reason, newest first."""
    cur.execute(f"""select delivery_id, source_id, partner_id, delivery_date, file_name, file_path,
                           reason, loaded_at
                    from {LEDGER} where status = 'quarantined'
                    order by loaded_at desc, delivery_id desc""")
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
