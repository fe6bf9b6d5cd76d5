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


def _lock_tables(cur, schemas: list[str]) -> None:
    """ACCESS EXCLUSIVE on every table and view of ``schemas``: waits (up to the lock timeout) for
    readers still inside a transaction on them, so none of them sees two nights."""
    cur.execute("""select format('%%I.%%I', n.nspname, c.relname) from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') order by 1""", (schemas,))
    names = [r[0] for r in cur.fetchall()]
    if names:
        cur.execute(f"lock table {', '.join(names)} in access exclusive mode")


def swap(conn, attempts: int = 5, lock_timeout: str = "5s", backoff: float = 2.0) -> None:
    """marts_previous <- marts <- marts_audit, in one transaction.

    Every table involved is locked first, waiting at most ``lock_timeout`` for readers' locks; if a
    reader holds on, the transaction is rolled back and retried after a growing pause, at most
    ``attempts`` times, then :class:`PublishError`. A reader therefore sees last night or tonight,
    never both, and never blocks publication forever. The BI reader is granted the new ``marts``
    and loses the old one in the same transaction."""
    import psycopg2

    from lnob import roles

    for attempt in range(1, attempts + 1):
        try:
            with conn.cursor() as cur:
                cur.execute(f"set local lock_timeout = '{lock_timeout}'")
                if not _schema_exists(cur, AUDIT_SCHEMA):
                    raise PublishError(f"nothing to publish: schema {AUDIT_SCHEMA} does not exist")
                _lock_tables(cur, [PUBLISHED_SCHEMA, PREVIOUS_SCHEMA, AUDIT_SCHEMA])
                cur.execute(f"drop schema if exists {PREVIOUS_SCHEMA} cascade")
                roles.grant_reader(cur, AUDIT_SCHEMA)
                if _schema_exists(cur, PUBLISHED_SCHEMA):
                    roles.revoke_reader(cur, PUBLISHED_SCHEMA)
                    cur.execute(f"alter schema {PUBLISHED_SCHEMA} rename to {PREVIOUS_SCHEMA}")
                cur.execute(f"alter schema {AUDIT_SCHEMA} rename to {PUBLISHED_SCHEMA}")
            conn.commit()
            return
        except psycopg2.errors.LockNotAvailable:
            conn.rollback()
            if attempt == attempts:
                raise PublishError(f"could not publish: readers held locks through {attempts} attempts "
                                   f"(lock timeout {lock_timeout} each); marts unchanged") from None
            time.sleep(min(backoff ** attempt, 30))


def rollback(conn, lock_timeout: str = "5s") -> None:
    """Restore last night: marts <- marts_previous (tonight's marts are kept as marts_previous)."""
    from lnob import roles

    with conn.cursor() as cur:
        cur.execute(f"set local lock_timeout = '{lock_timeout}'")
        if not _schema_exists(cur, PREVIOUS_SCHEMA):
            raise PublishError(f"no previous version to restore: schema {PREVIOUS_SCHEMA} does not exist")
        _lock_tables(cur, [PUBLISHED_SCHEMA, PREVIOUS_SCHEMA])
        roles.revoke_reader(cur, PUBLISHED_SCHEMA)
        roles.grant_reader(cur, PREVIOUS_SCHEMA)
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
