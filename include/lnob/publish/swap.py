"""Publish: swap the audited schema into the one BI tools read, atomically.

``marts_audit`` (built by dbt, passed by the gates) becomes ``marts``; the previous ``marts``
becomes ``marts_previous``. Schema renames are catalogue updates inside one transaction, so a
reader sees either last night or tonight, never a mix.

Only publish changes ``marts`` and ``marts_previous``. Nothing in them may depend on an object
outside their own schema: PostgreSQL drops a view with the seed or model it reads when dbt
rebuilds that one (``drop ... cascade``), so a published view reading ``reference`` would vanish
on the next seed reload, whatever the night's outcome. :func:`outside_dependencies` finds such a
dependency in the audit schema and :func:`swap` refuses to publish it, naming both objects.

Readers cannot hold a night hostage: the swap waits at most ``lock_timeout`` for readers' locks
and retries with a growing pause; once ``reader_grace`` seconds have passed it terminates the
sessions of ``lnob_bi_reader`` that hold a lock it needs (logged, and returned to the caller),
and publishes. Sessions of any other role are never terminated: if they hold on through every
attempt, publish gives up with :class:`PublishError` and ``marts`` is unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import time

from lnob.platform.config import AUDIT_SCHEMA, PREVIOUS_SCHEMA, PUBLISHED_SCHEMA
from lnob.platform.errors import NotRetryable

log = logging.getLogger(__name__)

#: where a published object may depend on something: its own schema and PostgreSQL's catalogues
_BUILTIN_SCHEMAS = ("pg_catalog", "information_schema")


class PublishError(NotRetryable, RuntimeError):
    pass


def _schema_exists(cur, name: str) -> bool:
    cur.execute("select 1 from pg_namespace where nspname = %s", (name,))
    return cur.fetchone() is not None


def _lock_tables(cur, schemas: list[str]) -> None:
    """ACCESS EXCLUSIVE on every table and view of ``schemas``: waits (up to the lock timeout) for
    readers still inside a transaction on them, so none of them sees two nights."""
    cur.execute(
        """select format('%%I.%%I', n.nspname, c.relname) from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') order by 1""",
        (schemas,),
    )
    names = [r[0] for r in cur.fetchall()]
    if names:
        cur.execute(f"lock table {', '.join(names)} in access exclusive mode")


# Every object that lives in a schema or hangs off a relation of it (a view's rewrite rule, a
# column default, a constraint, a trigger, an index), and each object it depends on (pg_depend:
# a view's rule on the relations, columns and functions it reads; a default on its sequence or
# function; a column on its type), named by pg_identify_object.
_OUTSIDE_DEPENDENCIES = """
with schema_objects as (
    select 'pg_class'::regclass as classid, c.oid as objid from pg_class c
    where c.relnamespace = %(schema)s::regnamespace
    union all select 'pg_rewrite'::regclass, r.oid from pg_rewrite r
    join pg_class c on c.oid = r.ev_class where c.relnamespace = %(schema)s::regnamespace
    union all select 'pg_attrdef'::regclass, d.oid from pg_attrdef d
    join pg_class c on c.oid = d.adrelid where c.relnamespace = %(schema)s::regnamespace
    union all select 'pg_trigger'::regclass, t.oid from pg_trigger t
    join pg_class c on c.oid = t.tgrelid where c.relnamespace = %(schema)s::regnamespace
    union all select 'pg_constraint'::regclass, k.oid from pg_constraint k
    where k.connamespace = %(schema)s::regnamespace
    union all select 'pg_proc'::regclass, p.oid from pg_proc p where p.pronamespace = %(schema)s::regnamespace
    union all select 'pg_type'::regclass, t.oid from pg_type t where t.typnamespace = %(schema)s::regnamespace
)
select distinct
    dependent.type || ' ' || dependent.identity as dependent,
    referenced.type || ' ' || referenced.identity as referenced
from pg_depend d
join schema_objects o on o.classid = d.classid and o.objid = d.objid
-- a rule, default or trigger is named by the relation it belongs to
left join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
left join pg_attrdef ad on d.classid = 'pg_attrdef'::regclass and ad.oid = d.objid
left join pg_trigger tg on d.classid = 'pg_trigger'::regclass and tg.oid = d.objid
cross join lateral (select coalesce(r.ev_class, ad.adrelid, tg.tgrelid) as relid) as owner
cross join lateral pg_identify_object(
    case when owner.relid is null then d.classid else 'pg_class'::regclass end,
    coalesce(owner.relid, d.objid), 0) as dependent
cross join lateral pg_identify_object(d.refclassid, d.refobjid, 0) as referenced
where d.deptype in ('n', 'a')
  and referenced.schema is not null
  and referenced.schema <> %(schema)s
  and referenced.schema <> all(%(builtin)s)
order by 1, 2
"""


def outside_dependencies(cur, schema: str) -> list[tuple[str, str]]:
    """``(object of schema, object outside it that it depends on)`` pairs: what a ``drop ...
    cascade`` elsewhere (a seed reload, a model rebuilt) would take down with it."""
    cur.execute(_OUTSIDE_DEPENDENCIES, {"schema": schema, "builtin": list(_BUILTIN_SCHEMAS)})
    return [(r[0], r[1]) for r in cur.fetchall()]


def check_self_contained(cur, schema: str = AUDIT_SCHEMA) -> None:
    """Raise :class:`PublishError` naming every object of ``schema`` that depends on one outside it."""
    found = outside_dependencies(cur, schema)
    if found:
        lines = "\n".join(f"  {dependent} depends on {referenced}" for dependent, referenced in found)
        raise PublishError(
            f"not published: objects of {schema} depend on objects outside it; a seed reload or a model "
            f"rebuild would drop them from {PUBLISHED_SCHEMA} (drop ... cascade). Copy what they read into "
            f"a mart table of the same schema:\n{lines}"
        )


_LOCK_HOLDERS = """
select a.pid, a.usename, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local'),
       a.state, round(extract(epoch from now() - coalesce(a.xact_start, a.query_start)))::int,
       string_agg(distinct format('%%I.%%I', n.nspname, c.relname), ', ')
from pg_locks l
join pg_class c on c.oid = l.relation
join pg_namespace n on n.oid = c.relnamespace
join pg_stat_activity a on a.pid = l.pid
where l.granted and l.pid <> pg_backend_pid() and n.nspname = any(%s)
group by 1, 2, 3, 4, 5, 6
order by 1
"""


def lock_holders(cur, schemas: list[str]) -> list[dict]:
    """The other sessions holding a lock on a table or view of ``schemas``: whom the swap waits for."""
    cur.execute(_LOCK_HOLDERS, (schemas,))
    keys = ("pid", "user", "application", "client", "state", "seconds", "holds")
    return [dict(zip(keys, row, strict=True)) for row in cur.fetchall()]


def _describe(session: dict) -> str:
    return (
        f"pid {session['pid']} ({session['user']}, {session['application'] or 'no application name'}, "
        f"from {session['client']}, {session['state']} for {session['seconds']} s, holding "
        f"{session['holds']})"
    )


def _terminate_readers(conn, schemas: list[str]) -> tuple[list[dict], list[dict]]:
    """Terminate the ``lnob_bi_reader`` sessions holding locks on ``schemas``; returns (terminated,
    other holders left alone). Only the reader's own logins are touched: a pipeline step or an
    administrator is never killed."""
    from lnob.platform import roles

    terminated, others = [], []
    with conn.cursor() as cur:
        for session in lock_holders(cur, schemas):
            if session["user"] != roles.READER:
                others.append(session)
                continue
            try:
                cur.execute("select pg_terminate_backend(%s, 5000)", (session["pid"],))
                ok = bool(cur.fetchone()[0])
            except Exception as exc:  # noqa: BLE001 - e.g. no privilege: the swap then gives up by name
                conn.rollback()
                log.warning("publish: could not terminate reader session %s: %s", _describe(session), exc)
                others.append(session)
                continue
            if ok:
                log.warning(
                    "publish: terminated reader session %s that held the swap's locks", _describe(session)
                )
                terminated.append(session)
    conn.commit()
    return terminated, others


def swap(
    conn, attempts: int = 5, lock_timeout: str = "5s", backoff: float = 2.0, reader_grace: float | None = None
) -> list[dict]:
    """marts_previous <- marts <- marts_audit, in one transaction. Returns the reader sessions it
    had to terminate (none, normally).

    The audit schema must be self-contained (:func:`check_self_contained`). Every table involved is
    locked first, waiting at most ``lock_timeout`` for readers' locks; if a reader holds on, the
    transaction is rolled back and retried after a growing pause, at most ``attempts`` times, then
    :class:`PublishError`. Once ``reader_grace`` seconds (``LNOB_PUBLISH_READER_GRACE``) have passed
    since the first attempt, the ``lnob_bi_reader`` sessions holding the locks are terminated before
    the next attempt (and one more attempt is always made after that). A reader therefore sees last
    night or tonight, never both, and never blocks publication for longer than the grace period.
    The BI reader is granted the new ``marts`` and loses the old one in the same transaction."""
    import psycopg2

    from lnob.platform import roles
    from lnob.platform.config import settings

    grace = settings().publish_reader_grace if reader_grace is None else reader_grace
    schemas = [PUBLISHED_SCHEMA, PREVIOUS_SCHEMA, AUDIT_SCHEMA]
    started = time.monotonic()
    terminated: list[dict] = []
    holders: list[dict] = []
    attempt = 0
    last = attempts
    while attempt < last:
        attempt += 1
        try:
            with conn.cursor() as cur:
                cur.execute(f"set local lock_timeout = '{lock_timeout}'")
                if not _schema_exists(cur, AUDIT_SCHEMA):
                    raise PublishError(f"nothing to publish: schema {AUDIT_SCHEMA} does not exist")
                check_self_contained(cur, AUDIT_SCHEMA)
                _lock_tables(cur, schemas)
                cur.execute(f"drop schema if exists {PREVIOUS_SCHEMA} cascade")
                roles.grant_reader(cur, AUDIT_SCHEMA)
                if _schema_exists(cur, PUBLISHED_SCHEMA):
                    roles.revoke_reader(cur, PUBLISHED_SCHEMA)
                    cur.execute(f"alter schema {PUBLISHED_SCHEMA} rename to {PREVIOUS_SCHEMA}")
                cur.execute(f"alter schema {AUDIT_SCHEMA} rename to {PUBLISHED_SCHEMA}")
            conn.commit()
            if terminated:
                log.warning(
                    "publish: published after terminating %d reader session(s) in %.1f s",
                    len(terminated),
                    time.monotonic() - started,
                )
            return terminated
        except psycopg2.errors.LockNotAvailable:
            conn.rollback()
        except Exception:
            conn.rollback()
            raise
        if time.monotonic() - started >= grace:
            killed, holders = _terminate_readers(conn, schemas)
            terminated += killed
            if killed:
                if attempt == last and last == attempts:
                    last += 1  # the locks they held are free now: one more attempt, once
                continue  # at once: the locks are free
        else:
            with conn.cursor() as cur:
                holders = lock_holders(cur, schemas)
            conn.commit()
        if attempt < last:
            time.sleep(min(backoff**attempt, 30))
    waiting_for = "; ".join(_describe(h) for h in holders) or "sessions that have since let go"
    raise PublishError(
        f"could not publish: readers held locks through {attempts} attempts "
        f"(lock timeout {lock_timeout} each); marts unchanged. Held by: {waiting_for}"
    )


def rollback(conn, lock_timeout: str = "5s") -> None:
    """Restore last night: marts <- marts_previous (tonight's marts are kept as marts_previous)."""
    from lnob.platform import roles

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
