"""Publish: swap the audited schema into the one BI tools read, atomically.

``marts_audit`` (built by dbt, passed by the gates) becomes ``marts``; the previous ``marts``
becomes ``marts_previous``. Schema renames are catalogue updates inside one transaction, so a
reader sees either last night or tonight, never a mix. The swap waits at most ``lock_timeout`` for
readers' locks and retries, so a long-running BI query delays publication but never blocks it
forever or is killed.
"""

from __future__ import annotations

import hashlib
import time

from lnob.config import AUDIT_SCHEMA, PREVIOUS_SCHEMA, PUBLISHED_SCHEMA


class PublishError(RuntimeError):
    pass


def _schema_exists(cur, name: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
    return cur.fetchone() is not None


def swap(conn, attempts: int = 5, lock_timeout: str = "5s") -> None:
    """marts_previous <- marts <- marts_audit, in one transaction."""
    import psycopg2

    for attempt in range(1, attempts + 1):
        try:
            with conn.cursor() as cur:
                cur.execute(f"set local lock_timeout = '{lock_timeout}'")
                if not _schema_exists(cur, AUDIT_SCHEMA):
                    raise PublishError(f"nothing to publish: schema {AUDIT_SCHEMA} does not exist")
                cur.execute(f"drop schema if exists {PREVIOUS_SCHEMA} cascade")
                if _schema_exists(cur, PUBLISHED_SCHEMA):
                    cur.execute(f"alter schema {PUBLISHED_SCHEMA} rename to {PREVIOUS_SCHEMA}")
                cur.execute(f"alter schema {AUDIT_SCHEMA} rename to {PUBLISHED_SCHEMA}")
            conn.commit()
            return
        except psycopg2.errors.LockNotAvailable:
            conn.rollback()
            if attempt == attempts:
                raise PublishError(f"could not publish: readers held locks through {attempts} attempts") from None
            time.sleep(min(2 ** attempt, 30))


def rollback(conn) -> None:
    """Restore last night: marts <- marts_previous (tonight's marts are kept as marts_previous)."""
    with conn.cursor() as cur:
        cur.execute("set local lock_timeout = '5s'")
        if not _schema_exists(cur, PREVIOUS_SCHEMA):
            raise PublishError(f"no previous version to restore: schema {PREVIOUS_SCHEMA} does not exist")
        cur.execute(f"alter schema {PUBLISHED_SCHEMA} rename to marts_rollback_tmp")
        cur.execute(f"alter schema {PREVIOUS_SCHEMA} rename to {PUBLISHED_SCHEMA}")
        cur.execute(f"alter schema marts_rollback_tmp rename to {PREVIOUS_SCHEMA}")
    conn.commit()


def table_counts(conn, schema: str = PUBLISHED_SCHEMA) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
        )
        tables = [r[0] for r in cur.fetchall()]
        counts = {}
        for t in tables:
            cur.execute(f'select count(*) from {schema}."{t}"')
            counts[t] = cur.fetchone()[0]
    return counts


def schema_checksum(conn, schema: str = PUBLISHED_SCHEMA) -> str:
    """A digest of every table of a schema, row by row in a stable order: equal digests, equal data."""
    digest = hashlib.sha256()
    with conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
        )
        for (table,) in cur.fetchall():
            cur.execute(
                f"select md5(coalesce(string_agg(md5(t::text), '' order by md5(t::text)), '')) "
                f'from {schema}."{table}" as t'
            )
            digest.update(f"{table}:{cur.fetchone()[0]};".encode())
    return digest.hexdigest()
