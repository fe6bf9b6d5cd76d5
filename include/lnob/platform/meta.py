"""The pipeline's own bookkeeping in the warehouse (schema ``lnob_meta``): the delivery ledger that
makes loads idempotent, and the run log that the summary and the report read."""

from __future__ import annotations

from lnob.platform.config import META_SCHEMA, RAW_SCHEMA

#: What a delivery can be in the ledger. ``loaded``: its rows are in raw. ``quarantined``: it broke
#: its contract or its raw gate (the file is kept with its reason). ``superseded``: a corrected
#: re-delivery of the same file drop replaced it (``replaced_by``). ``unloaded``: an operator took
#: its rows out (``lnob delivery unload``); ``lnob delivery reload`` loads it again.
DELIVERY_STATUSES = ("loaded", "quarantined", "superseded", "unloaded")
_STATUS_CHECK = "status in (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")"
#: An existing ledger whose check constraint misses one of them gets the constraint replaced.
_STATUS_PATTERNS = ", ".join(f"'%''{s}''%'" for s in DELIVERY_STATUSES)

DDL = f"""
-- Only when missing: CREATE SCHEMA IF NOT EXISTS checks the database's CREATE privilege first,
-- which the loader role (owner of both schemas, see lnob.platform.roles) does not have.
do $$
begin
    if not exists (select 1 from pg_namespace where nspname = '{META_SCHEMA}') then
        create schema {META_SCHEMA};
    end if;
    if not exists (select 1 from pg_namespace where nspname = '{RAW_SCHEMA}') then
        create schema {RAW_SCHEMA};
    end if;
end
$$;
create table if not exists {META_SCHEMA}.delivery_ledger (
    delivery_id    bigserial primary key,
    source_id      text        not null,
    partner_id     text        not null,
    delivery_date  date        not null,
    file_name      text        not null,
    file_path      text        not null,
    file_sha256    text        not null,
    status         text        not null constraint delivery_ledger_status_check check ({_STATUS_CHECK}),
    rows_loaded    bigint      not null default 0,
    reason         jsonb,
    unexpected_fields text[],
    run_id         text,
    loaded_at      timestamptz not null default now(),
    unique (source_id, file_sha256)
);
-- Added since the first release: an existing warehouse migrates on its next run. Checked first:
-- ALTER TABLE takes an exclusive lock even when there is nothing to do, and parallel loads must
-- not queue behind it.
do $$
begin
    if not exists (select 1 from pg_attribute
                    where attrelid = '{META_SCHEMA}.delivery_ledger'::regclass
                      and attname = 'change_reason' and not attisdropped) then
        alter table {META_SCHEMA}.delivery_ledger
            add column if not exists replaced_by   bigint,       -- the delivery that superseded this one
            add column if not exists changed_by    text,         -- who last changed its status
            add column if not exists changed_at    timestamptz,  -- when
            add column if not exists change_reason text;         -- why, as they said it
    end if;
    -- gated_at: when the delivery passed its raw gate. A loaded delivery without it has not been
    -- gated yet (tonight's, or one a crashed night loaded): the next raw gate of its source takes it.
    -- Deliveries loaded before the column existed had passed their gate then.
    if not exists (select 1 from pg_attribute
                    where attrelid = '{META_SCHEMA}.delivery_ledger'::regclass
                      and attname = 'gated_at' and not attisdropped) then
        alter table {META_SCHEMA}.delivery_ledger add column gated_at timestamptz;
        update {META_SCHEMA}.delivery_ledger set gated_at = coalesce(changed_at, loaded_at)
         where status = 'loaded';
    end if;
    if not exists (select 1 from pg_constraint
                    where conrelid = '{META_SCHEMA}.delivery_ledger'::regclass
                      and conname = 'delivery_ledger_status_check'
                      and pg_get_constraintdef(oid) like all (array[{_STATUS_PATTERNS}])) then
        alter table {META_SCHEMA}.delivery_ledger drop constraint if exists delivery_ledger_status_check;
        alter table {META_SCHEMA}.delivery_ledger
            add constraint delivery_ledger_status_check check ({_STATUS_CHECK});
    end if;
end
$$;
-- Every change of a delivery's status, oldest first: load, quarantine, replace, unload, reload.
-- The ledger holds the current state; this is its history (who, when, why).
create table if not exists {META_SCHEMA}.delivery_events (
    event_id      bigserial   primary key,
    delivery_id   bigint      not null,
    source_id     text        not null,
    action        text        not null,
    status        text        not null,
    rows_loaded   bigint      not null default 0,
    actor         text        not null,
    reason        text,
    detail        jsonb,
    run_id        text,
    logged_at     timestamptz not null default now()
);
-- The seed files the reference tables were last loaded from (transform reloads them on change).
create table if not exists {META_SCHEMA}.seed_state (
    checksum     text        not null,
    loaded_at    timestamptz not null default now()
);
-- What the last successful dbt stage was built from (lnob.transform.runner.build_plan): one row for the
-- project, seeds, settings and relations ('global'), one per source (its loaded deliveries). A
-- night selects only the staging of the sources whose row changed, and what reads them.
create table if not exists {META_SCHEMA}.build_state (
    scope        text        primary key,
    fingerprint  text        not null,
    recorded_at  timestamptz not null default now()
);
-- The harmonised persons the mart gate has validated: up to this harmonised_at, of this relation
-- (a full refresh makes a new one), against this suite (lnob.quality.gates.persons_changed_query).
create table if not exists {META_SCHEMA}.persons_gate (
    relation_oid      oid         not null,
    suite_digest      text        not null,
    validated_through timestamptz not null,
    recorded_at       timestamptz not null default now()
);
create table if not exists {META_SCHEMA}.run_log (
    run_id       text        not null,
    stage        text        not null,
    subject      text        not null,
    outcome      text        not null,
    detail       jsonb,
    logged_at    timestamptz not null default now(),
    primary key (run_id, stage, subject)
);
-- Keyed-hash pseudonym: HMAC-SHA256(key, partner || 0x1f || value), hex, built from the built-in
-- sha256() (no pgcrypto needed). The key never appears in SQL text: the session receives the
-- HMAC inner and outer padded keys as settings (PGOPTIONS, see lnob.transform.pseudonym), and a session
-- without them fails here, naming the variable to set.
create or replace function {META_SCHEMA}.pseudonym(partner text, value text) returns text
language plpgsql stable parallel safe as $$
declare
    ikey text := current_setting('lnob.hmac_ikey', true);
    okey text := current_setting('lnob.hmac_okey', true);
begin
    if value is null or btrim(value) = '' then
        return null;
    end if;
    if coalesce(ikey, '') = '' or coalesce(okey, '') = '' then
        raise exception 'LNOB_PSEUDONYM_KEY is not set for this session: ids cannot be pseudonymised';
    end if;
    return encode(sha256(decode(okey, 'hex') || sha256(decode(ikey, 'hex')
                  || convert_to(partner || chr(31) || btrim(value), 'UTF8'))), 'hex');
end
$$;
"""


def ensure(cur) -> None:
    """Create the bookkeeping tables once; serialised so parallel tasks do not race on DDL."""
    cur.execute("select pg_advisory_xact_lock(hashtext('lnob_meta_ddl'))")
    cur.execute(DDL)


def log_delivery_event(
    cur,
    delivery_id: int,
    source_id: str,
    action: str,
    status: str,
    actor: str,
    reason: str | None = None,
    rows_loaded: int = 0,
    detail: dict | None = None,
    run_id: str | None = None,
) -> None:
    """Append one change of a delivery's status to ``delivery_events`` (in the caller's transaction)."""
    import json

    cur.execute(
        f"""insert into {META_SCHEMA}.delivery_events
            (delivery_id, source_id, action, status, rows_loaded, actor, reason, detail, run_id)
            values (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            delivery_id,
            source_id,
            action,
            status,
            rows_loaded or 0,
            actor,
            reason,
            json.dumps(detail, default=str) if detail else None,
            run_id,
        ),
    )


def log_outcome(cur, run_id: str, stage: str, subject: str, outcome: str, detail: dict | None = None) -> None:
    """Record one stage's outcome for one subject (a source, a gate, a table); re-runs overwrite."""
    import json

    cur.execute(
        f"""insert into {META_SCHEMA}.run_log (run_id, stage, subject, outcome, detail)
            values (%s, %s, %s, %s, %s)
            on conflict (run_id, stage, subject)
            do update set outcome = excluded.outcome, detail = excluded.detail, logged_at = now()""",
        (run_id, stage, subject, outcome, json.dumps(detail or {}, default=str)),
    )
