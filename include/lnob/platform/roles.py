"""Least-privilege roles, enforced by the database.

``lnob warehouse roles`` creates, idempotently:

``lnob_loader``
    owns ``raw`` and ``lnob_meta`` (the raw tables, the delivery ledger): loads deliveries,
    records and quarantines them. Reads nothing else. No login: the pipeline assumes it.
``lnob_transformer``
    reads ``raw`` and ``lnob_meta``; owns what dbt builds (``staging``, ``intermediate``,
    ``reference``, ``marts_audit``) and the published ``marts`` / ``marts_previous``, so it can
    swap them. No login.
``lnob_bi_reader``
    logs in (BI tools, analysts): ``select`` on the tables and views of ``marts``, nothing else.
    Publishing grants it the new ``marts`` and revokes the old one in the swap's transaction.
    Its sessions are bounded (:func:`reader_limits`: ``statement_timeout``,
    ``idle_in_transaction_session_timeout``, ``lock_timeout``, a connection limit), and the
    transformer is a member of it so that publish may terminate a reader session that holds its
    locks past the grace period (``pg_terminate_backend`` needs the privileges of the session's
    role); the membership gives the transformer nothing else, it owns ``marts`` already.

PUBLIC loses ``create`` and ``temporary`` on the database and everything on schema ``public``:
what a role may do is what it was granted. The pipeline runs each step as the narrowest role
(``as_role``: PostgreSQL's ``role`` setting at connection start, i.e. ``SET ROLE``), so a bug in
the loader cannot touch a mart and publishing cannot rewrite raw data.

The reader's password is ``LNOB_BI_READER_PASSWORD`` or, if unset, generated once and kept in
``$LNOB_HOME/roles.json`` (mode 600).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from lnob.platform.config import (
    AUDIT_SCHEMA,
    META_SCHEMA,
    PREVIOUS_SCHEMA,
    PUBLISHED_SCHEMA,
    RAW_SCHEMA,
    Settings,
    settings,
)
from lnob.platform.errors import NotRetryable

log = logging.getLogger(__name__)

LOADER = "lnob_loader"
TRANSFORMER = "lnob_transformer"
READER = "lnob_bi_reader"
ROLES = (LOADER, TRANSFORMER, READER)
LOADER_SCHEMAS = (RAW_SCHEMA, META_SCHEMA)
TRANSFORMER_SCHEMAS = (
    "staging",
    "intermediate",
    "reference",
    AUDIT_SCHEMA,
    PUBLISHED_SCHEMA,
    PREVIOUS_SCHEMA,
)
PASSWORD_VARIABLE = "LNOB_BI_READER_PASSWORD"


class RolesError(NotRetryable, RuntimeError):
    pass


def reader_password(cfg: Settings | None = None) -> str:
    """The reader's password: the environment's, or one generated once for this LNOB_HOME."""
    if os.environ.get(PASSWORD_VARIABLE):
        return os.environ[PASSWORD_VARIABLE]
    cfg = cfg or settings()
    path = Path(cfg.home) / "roles.json"
    if path.exists():
        return json.loads(path.read_text())[READER]
    password = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({READER: password}, fh)
    return password


def exist(conn) -> bool:
    with conn.cursor() as cur:
        cur.execute("select count(*) from pg_roles where rolname = any(%s)", (list(ROLES),))
        return cur.fetchone()[0] == len(ROLES)


def can_manage(conn) -> bool:
    """Whether the connected user may create roles (superuser or CREATEROLE)."""
    with conn.cursor() as cur:
        cur.execute("select rolsuper or rolcreaterole from pg_roles where rolname = current_user")
        row = cur.fetchone()
        return bool(row and row[0])


def _schemas(cur, names) -> list[str]:
    cur.execute("select nspname from pg_namespace where nspname = any(%s) order by 1", (list(names),))
    return [r[0] for r in cur.fetchall()]


def _give(cur, schema: str, role: str) -> None:
    """Make ``role`` the owner of a schema and of every table, view, sequence and function in it."""
    cur.execute(f'alter schema "{schema}" owner to {role}')
    cur.execute(
        """select c.relkind, format('%%I.%%I', n.nspname, c.relname)
                   from pg_class c join pg_namespace n on n.oid = c.relnamespace
                   where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
                     and pg_get_userbyid(c.relowner) <> %s
                     -- a sequence owned by a column follows its table
                     and not (c.relkind = 'S' and exists (
                         select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i')))""",
        (schema, role),
    )
    kinds = {
        "r": "table",
        "p": "table",
        "v": "view",
        "m": "materialized view",
        "S": "sequence",
        "f": "foreign table",
    }
    for kind, name in cur.fetchall():
        cur.execute(f"alter {kinds[kind]} {name} owner to {role}")
    cur.execute(
        """select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                   where n.nspname = %s and pg_get_userbyid(p.proowner) <> %s""",
        (schema, role),
    )
    for (signature,) in cur.fetchall():
        cur.execute(f"alter routine {signature} owner to {role}")


def reader_limits(cfg: Settings | None = None) -> dict[str, str]:
    """The session settings every ``lnob_bi_reader`` login gets (``LNOB_READER_*``, see README):
    a runaway query, a transaction left open or a queue of lock waits all end by themselves."""
    cfg = cfg or settings()
    return {
        "statement_timeout": cfg.reader_statement_timeout,
        "idle_in_transaction_session_timeout": cfg.reader_idle_in_transaction_timeout,
        "lock_timeout": cfg.reader_lock_timeout,
    }


def _limit_reader(cur, cfg: Settings) -> list[str]:
    """Set the reader's limits where they differ from the configured ones (idempotent)."""
    done = []
    cur.execute(
        """select rolconnlimit, coalesce(s.setconfig, '{}') from pg_roles r
                   left join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
                   where r.rolname = %s""",
        (READER,),
    )
    limit, config = cur.fetchone()
    current = dict(item.split("=", 1) for item in config)
    for name, value in reader_limits(cfg).items():
        if current.get(name) != value:
            cur.execute(f"alter role {READER} set {name} = %s", (value,))
            done.append(f"{READER}: {name} = {value}")
    if limit != cfg.reader_connection_limit:
        cur.execute(f"alter role {READER} connection limit %s", (cfg.reader_connection_limit,))
        done.append(f"{READER}: connection limit {cfg.reader_connection_limit}")
    return done


def grant_reader(cur, schema: str) -> None:
    """The reader may read ``schema`` (the one about to become ``marts``), tables and views."""
    cur.execute("select 1 from pg_roles where rolname = %s", (READER,))
    if cur.fetchone() is None:
        return
    cur.execute(f'grant usage on schema "{schema}" to {READER}')
    cur.execute(f'grant select on all tables in schema "{schema}" to {READER}')


def revoke_reader(cur, schema: str) -> None:
    cur.execute("select 1 from pg_roles where rolname = %s", (READER,))
    if cur.fetchone() is None or not _schemas(cur, [schema]):
        return
    cur.execute(f'revoke all on all tables in schema "{schema}" from {READER}')
    cur.execute(f'revoke all on schema "{schema}" from {READER}')


def ensure(conn, cfg: Settings | None = None) -> list[str]:
    """Create the roles and set every grant; safe to run any number of times. Returns what it did."""
    from lnob.platform import meta

    cfg = cfg or settings()
    if not can_manage(conn):
        raise RolesError(
            "creating the lnob roles needs a superuser or a user with CREATEROLE; "
            "connect with LNOB_WAREHOUSE_URL as such a user, or ask your DBA to run "
            "`lnob warehouse roles`"
        )
    done: list[str] = []
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('lnob_roles'))")
        cur.execute("select rolname from pg_roles where rolname = any(%s)", (list(ROLES),))
        present = {r[0] for r in cur.fetchall()}
        for role in (LOADER, TRANSFORMER):
            if role not in present:
                cur.execute(f"create role {role} nologin")
                done.append(f"created role {role}")
        if READER not in present:
            cur.execute(f"create role {READER} login")
            done.append(f"created role {READER}")
        cur.execute(f"alter role {READER} with login password %s", (reader_password(cfg),))
        done.extend(_limit_reader(cur, cfg))
        cur.execute(
            "select current_user, rolsuper, current_database() from pg_roles where rolname = current_user"
        )
        me, superuser, database = cur.fetchone()
        if not superuser:  # the pipeline's user must be able to assume each step's role
            cur.execute(f'grant {LOADER}, {TRANSFORMER}, {READER} to "{me}"')

        # Nothing by default: PUBLIC may connect, and nothing else.
        cur.execute(f'revoke create, temporary on database "{database}" from public')
        cur.execute("revoke all on schema public from public")
        cur.execute(f'grant connect on database "{database}" to {LOADER}, {TRANSFORMER}, {READER}')
        cur.execute(f'grant temporary on database "{database}" to {LOADER}, {TRANSFORMER}')
        cur.execute(f'grant create on database "{database}" to {TRANSFORMER}')  # dbt creates its schemas
        # publish may terminate a reader session that holds its locks (lnob.publish.swap)
        cur.execute(
            "select 1 from pg_auth_members where roleid = %s::regrole and member = %s::regrole",
            (READER, TRANSFORMER),
        )
        if cur.fetchone() is None:
            cur.execute(f"grant {READER} to {TRANSFORMER}")

        # The loader owns the raw layer and the ledger; the transformer reads them.
        meta.ensure(cur)
        for schema in _schemas(cur, LOADER_SCHEMAS):
            _give(cur, schema, LOADER)
            cur.execute(f'grant usage on schema "{schema}" to {TRANSFORMER}')
            cur.execute(f'grant select on all tables in schema "{schema}" to {TRANSFORMER}')
            cur.execute(
                f'alter default privileges for role {LOADER} in schema "{schema}" '
                f"grant select on tables to {TRANSFORMER}"
            )
        # dbt records which seeds it loaded
        cur.execute(f"grant insert, update, delete on {META_SCHEMA}.seed_state to {TRANSFORMER}")
        # ... and what the last successful dbt stage was built from
        cur.execute(f"grant select, insert, update, delete on {META_SCHEMA}.build_state to {TRANSFORMER}")
        # the mart gate records how far it has validated the harmonised persons
        cur.execute(f"grant insert, update, delete on {META_SCHEMA}.persons_gate to {TRANSFORMER}")

        # The transformer owns what dbt builds and what is published.
        for schema in _schemas(cur, TRANSFORMER_SCHEMAS):
            _give(cur, schema, TRANSFORMER)
        for schema in _schemas(cur, [PUBLISHED_SCHEMA]):
            grant_reader(cur, schema)
        for schema in _schemas(
            cur, [AUDIT_SCHEMA, PREVIOUS_SCHEMA, *LOADER_SCHEMAS, "staging", "intermediate", "reference"]
        ):
            revoke_reader(cur, schema)
    conn.commit()
    done.append(
        f"grants set: {LOADER} owns {', '.join(LOADER_SCHEMAS)}; {TRANSFORMER} reads them and owns "
        f"{', '.join(TRANSFORMER_SCHEMAS)}; {READER} reads {PUBLISHED_SCHEMA} only"
    )
    return done


def as_role(url: str, role: str) -> str:
    """The warehouse URL with the session assuming ``role`` (libpq ``options=-c role=...``)."""
    parts = urlsplit(url)
    option = "options=" + quote(f"-c role={role}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit(parts._replace(query=query))


def reader_url(url: str, cfg: Settings | None = None) -> str:
    """The warehouse URL logged in as the BI reader (same host, port and database)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{READER}:{quote(reader_password(cfg), safe='')}@{host}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_IN_USE: dict[tuple[str, str], bool] = {}


def step_url(url: str, role: str) -> str:
    """What a pipeline step connects with: ``role`` when it exists and the configured user may
    assume it, else the configured user (a warehouse whose roles were never created still runs,
    and says so)."""
    from lnob.platform import warehouse

    key = (url, role)
    if key not in _IN_USE:
        with warehouse.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "select case when exists (select 1 from pg_roles where rolname = %s) "
                "then pg_has_role(current_user, %s, 'MEMBER') else false end",
                (role, role),
            )
            _IN_USE[key] = bool(cur.fetchone()[0])
        if not _IN_USE[key]:
            log.warning(
                "role %s does not exist or cannot be assumed here: this step runs as the configured "
                "user; run `lnob warehouse roles` to enforce least privilege",
                role,
            )
    return as_role(url, role) if _IN_USE[key] else url


def forget(url: str) -> None:
    """Check again whether the roles can be used (after `ensure`, or a warehouse reset)."""
    for key in [k for k in _IN_USE if k[0] == url]:
        del _IN_USE[key]
