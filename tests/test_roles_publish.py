"""Least-privilege roles and the publish swap, on the real embedded PostgreSQL.

A small warehouse is laid out the way the pipeline leaves it (a raw table holding identifiers, the
delivery ledger with a quarantined delivery, staging and intermediate tables, a published night in
`marts` with a BI view, the next night waiting in `marts_audit`); `roles.ensure` then sets the
grants, and each test logs in as a role and tries what it must and must not be able to do.
"""

import threading
import time

import psycopg2
import pytest
from helpers import clean_warehouse, lnob
from lnob.platform import meta, roles
from lnob.publish import swap as publish

pytestmark = pytest.mark.integration

ROWS = 200


def _night(cur, schema: str, night: int) -> None:
    cur.execute(f"create schema {schema}")
    cur.execute(f"""create table {schema}.fct_sdg_observation as
                    select 'SH_H2O_SAFE'::text as series, g as cell, {night} as night, 50.0 + {night} as obs_value
                    from generate_series(1, {ROWS}) as g""")
    # a BI view inside the swapped schema: it moves with its tables
    cur.execute(f"""create view {schema}.v_sdg_observation_latest as
                    select series, max(night) as night, count(*) as cells
                    from {schema}.fct_sdg_observation group by series""")


@pytest.fixture(scope="module")
def admin(warehouse_url):
    clean_warehouse(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        meta.ensure(cur)
        cur.execute("create table raw.partner_survey (respondent_name text, phone text, age integer)")
        cur.execute("insert into raw.partner_survey values ('Asha Otieno', '+254 700 000 000', 34)")
        cur.execute("""insert into lnob_meta.delivery_ledger
                       (source_id, partner_id, delivery_date, file_name, file_path, file_sha256, status, reason)
                       values ('aak_clm_survey', 'actionaid_kenya', '2026-11-21', 'bad.json', '/q/bad.json',
                               'abc', 'quarantined', '{"kind": "contract_broken"}')""")
        cur.execute("create schema staging")
        cur.execute("create table staging.stg_persons as select 'pid'::text as person_pid")
        cur.execute("create schema intermediate")
        cur.execute("create table intermediate.int_persons as select 'pid'::text as person_pid")
        _night(cur, "marts_audit", 1)
    conn.commit()
    publish.swap(conn)
    with conn.cursor() as cur:
        _night(cur, "marts_audit", 2)
    conn.commit()
    done = roles.ensure(conn)
    assert any("created role" in line for line in done) or roles.exist(conn)
    yield conn
    conn.close()


def _as(url: str, role: str):
    conn = psycopg2.connect(roles.as_role(url, role))
    conn.autocommit = True
    return conn


@pytest.fixture
def reader(admin, warehouse_url):
    conn = psycopg2.connect(roles.reader_url(warehouse_url))  # logs in with its own password
    yield conn
    conn.close()


def _published_night(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("select min(night), max(night), count(*) from marts.fct_sdg_observation")
        low, high, n = cur.fetchone()
        cur.execute("select night, cells from marts.v_sdg_observation_latest")
        view_night, cells = cur.fetchone()
    assert low == high == view_night and n == cells == ROWS, "a mix of two nights"
    return low


def test_roles_are_created_idempotently(admin):
    again = roles.ensure(admin)
    assert not any("created role" in line for line in again)
    with admin.cursor() as cur:
        cur.execute("select rolname, rolcanlogin from pg_roles where rolname like 'lnob%' order by 1")
        assert cur.fetchall() == [
            ("lnob_bi_reader", True),
            ("lnob_loader", False),
            ("lnob_transformer", False),
        ]


@pytest.mark.parametrize(
    "query",
    [
        "select * from raw.partner_survey",
        "select * from staging.stg_persons",
        "select * from intermediate.int_persons",
        "select * from marts_audit.fct_sdg_observation",
        "select * from lnob_meta.delivery_ledger where status = 'quarantined'",
        "select * from lnob_meta.run_log",
    ],
)
def test_the_bi_reader_cannot_read_outside_marts(reader, query):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
        cur.execute(query)


@pytest.mark.parametrize(
    "statement",
    [
        "insert into marts.fct_sdg_observation (series) values ('X')",
        "update marts.fct_sdg_observation set obs_value = 0",
        "delete from marts.fct_sdg_observation",
        "create table marts.mine (a int)",
        "create table public.mine (a int)",
        "create temporary table mine (a int)",
        "create schema mine",
        "insert into raw.partner_survey (age) values (1)",
        "update lnob_meta.delivery_ledger set status = 'loaded'",
        "drop view marts.v_sdg_observation_latest",
    ],
)
def test_the_bi_reader_cannot_write_anywhere(reader, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
        cur.execute(statement)


def test_the_bi_reader_reads_the_published_marts_and_their_views(reader):
    assert _published_night(reader) == 1


def test_each_pipeline_role_reaches_only_its_layer(admin, warehouse_url):
    loader = _as(warehouse_url, roles.LOADER)
    with loader.cursor() as cur:
        cur.execute("insert into raw.partner_survey (age) values (40)")
        cur.execute("delete from raw.partner_survey where age = 40")
        cur.execute("select count(*) from lnob_meta.delivery_ledger")
        for forbidden in ("select * from marts.fct_sdg_observation", "select * from staging.stg_persons"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(forbidden)
    loader.close()
    transformer = _as(warehouse_url, roles.TRANSFORMER)
    with transformer.cursor() as cur:
        cur.execute("select count(*) from raw.partner_survey")  # dbt reads raw ...
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("delete from raw.partner_survey")  # ... and never changes it
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("update lnob_meta.delivery_ledger set status = 'loaded'")
        cur.execute("create table staging.scratch as select 1 as a")  # builds its own layers
        cur.execute("drop table staging.scratch")
    transformer.close()


def test_a_reader_inside_a_transaction_delays_publish_and_never_sees_two_nights(admin, reader, warehouse_url):
    assert _published_night(reader) == 1  # the reader's transaction now holds last night
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    outcome: dict = {}

    def run():
        started = time.monotonic()
        try:
            publish.swap(publisher, attempts=20, lock_timeout="200ms", backoff=1.2)
            outcome["published"] = time.monotonic() - started
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive() and not outcome  # waiting for the reader, retrying
    assert _published_night(reader) == 1  # still all of last night, table and view alike
    reader.commit()  # the reader's transaction ends
    thread.join(timeout=60)
    publisher.close()
    assert "published" in outcome, outcome
    assert _published_night(reader) == 2  # the next transaction sees tonight, all of it


def test_a_reader_that_never_lets_go_does_not_block_publish_forever(admin, reader, warehouse_url):
    with admin.cursor() as cur:
        cur.execute("drop schema if exists marts_audit cascade")
        _night(cur, "marts_audit", 3)
    admin.commit()
    assert _published_night(reader) == 2
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    started = time.monotonic()
    with pytest.raises(publish.PublishError, match="readers held locks through 3 attempts"):
        publish.swap(publisher, attempts=3, lock_timeout="200ms", backoff=1.1)
    assert time.monotonic() - started < 15
    publisher.close()
    assert _published_night(reader) == 2
    reader.commit()
    assert _published_night(reader) == 2  # nothing was published: marts unchanged


def test_rollback_restores_the_previous_night_in_one_command(admin, reader):
    assert _published_night(reader) == 2
    reader.commit()
    result = lnob("publish", "rollback")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _published_night(reader) == 1
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
        cur.execute(
            "select * from marts_previous.fct_sdg_observation"
        )  # the rolled-back night is not readable


# --- readers cannot block a night (issue 14) --------------------------------------------------


def _limits(conn) -> tuple[int, dict]:
    with conn.cursor() as cur:
        cur.execute("""select r.rolconnlimit, coalesce(s.setconfig, '{}') from pg_roles r
                       left join pg_db_role_setting s on s.setrole = r.oid and s.setdatabase = 0
                       where r.rolname = 'lnob_bi_reader'""")
        limit, config = cur.fetchone()
    return limit, dict(item.split("=", 1) for item in config)


def _show(conn, *names: str) -> list[str]:
    with conn.cursor() as cur:
        out = []
        for name in names:
            cur.execute(f"show {name}")
            out.append(cur.fetchone()[0])
    conn.rollback()
    return out


def test_the_reader_login_has_timeouts_and_a_connection_limit(admin, warehouse_url):
    limit, config = _limits(admin)
    assert limit == 20
    assert config == {
        "statement_timeout": "5min",
        "idle_in_transaction_session_timeout": "1min",
        "lock_timeout": "10s",
    }
    reader = psycopg2.connect(roles.reader_url(warehouse_url))  # a BI tool's login gets them
    assert _show(reader, "statement_timeout", "idle_in_transaction_session_timeout", "lock_timeout") == [
        "5min",
        "1min",
        "10s",
    ]
    reader.close()
    again = roles.ensure(admin)  # idempotent: nothing to change the second time
    assert not any(roles.READER + ":" in line for line in again), again


def test_the_reader_limits_come_from_the_environment(admin, warehouse_url, monkeypatch):
    monkeypatch.setenv("LNOB_READER_STATEMENT_TIMEOUT", "2min")
    monkeypatch.setenv("LNOB_READER_IDLE_IN_TRANSACTION_TIMEOUT", "1500ms")
    monkeypatch.setenv("LNOB_READER_CONNECTION_LIMIT", "2")
    done = roles.ensure(admin)
    assert "lnob_bi_reader: statement_timeout = 2min" in done and "lnob_bi_reader: connection limit 2" in done
    sessions = [psycopg2.connect(roles.reader_url(warehouse_url)) for _ in range(2)]
    try:
        assert _show(sessions[0], "statement_timeout") == ["2min"]
        with pytest.raises(psycopg2.OperationalError, match="too many connections for role"):
            psycopg2.connect(roles.reader_url(warehouse_url))  # a third BI session is refused
        # a transaction left open ends by itself
        with sessions[1].cursor() as cur:
            cur.execute("select count(*) from marts.fct_sdg_observation")
        time.sleep(2.5)
        with pytest.raises(psycopg2.OperationalError), sessions[1].cursor() as cur:
            cur.execute("select 1")
    finally:
        for s in sessions:
            s.close()
    monkeypatch.setenv("LNOB_READER_STATEMENT_TIMEOUT", "0")
    with pytest.raises(Exception, match="LNOB_READER_STATEMENT_TIMEOUT='0': expected a positive"):
        roles.ensure(admin)
    admin.rollback()
    monkeypatch.undo()
    roles.ensure(admin)
    assert _limits(admin)[0] == 20


def _fresh_audit(admin, night: int) -> None:
    with admin.cursor() as cur:
        cur.execute("drop schema if exists marts_audit cascade")
        _night(cur, "marts_audit", night)
    admin.commit()
    roles.ensure(admin)  # what dbt builds belongs to lnob_transformer, which publishes


def _marts_night(admin, schema: str = "marts") -> int:
    with admin.cursor() as cur:
        cur.execute(f"select min(night), max(night) from {schema}.fct_sdg_observation")
        low, high = cur.fetchone()
    admin.commit()
    assert low == high
    return low


def test_the_swap_revokes_the_reader_on_the_outgoing_schema(admin, warehouse_url):
    """Mutation pin: a swap that forgets `revoke_reader` on the outgoing marts fails here."""
    _fresh_audit(admin, 3)
    outgoing = _marts_night(admin)
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    assert publish.swap(publisher) == []
    publisher.close()
    assert _marts_night(admin, "marts_previous") == outgoing and _marts_night(admin) == 3
    reader = psycopg2.connect(roles.reader_url(warehouse_url))
    reader.autocommit = True
    with reader.cursor() as cur:
        cur.execute("select count(*) from marts.fct_sdg_observation")  # tonight: readable
        for query in (
            "select * from marts_previous.fct_sdg_observation",
            "select * from marts_previous.v_sdg_observation_latest",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(query)
        cur.execute("""select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       where n.nspname = 'marts_previous'
                         and (has_table_privilege('lnob_bi_reader', c.oid, 'select')
                              or has_schema_privilege('lnob_bi_reader', n.oid, 'usage'))""")
        assert cur.fetchall() == []
    reader.close()


def test_a_reader_idle_in_a_transaction_is_terminated_and_publish_completes(admin, warehouse_url, caplog):
    _fresh_audit(admin, 4)
    idle = psycopg2.connect(roles.reader_url(warehouse_url))
    with idle.cursor() as cur:  # `begin; select ...` and then nothing: a BI session left open
        cur.execute("select count(*) from marts.fct_sdg_observation")
        cur.execute("select pg_backend_pid()")
        pid = cur.fetchone()[0]
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="lnob.publish.swap"):
        terminated = publish.swap(publisher, attempts=5, lock_timeout="200ms", backoff=1.2, reader_grace=1.0)
    seconds = time.monotonic() - started
    publisher.close()
    assert seconds < 10, seconds
    assert [s["pid"] for s in terminated] == [pid] and terminated[0]["user"] == roles.READER
    assert "marts.fct_sdg_observation" in terminated[0]["holds"]
    assert f"terminated reader session pid {pid}" in caplog.text
    assert _marts_night(admin) == 4 and _marts_night(admin, "marts_previous") == 3
    with pytest.raises(psycopg2.OperationalError), idle.cursor() as cur:
        cur.execute("select 1")  # its session is gone
    idle.close()
    fresh = psycopg2.connect(roles.reader_url(warehouse_url))
    assert _published_night(fresh) == 4  # the next BI query sees tonight, table and view alike
    fresh.close()


def test_sessions_of_other_roles_are_never_terminated(admin, warehouse_url):
    _fresh_audit(admin, 5)
    pipeline_step = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    with pipeline_step.cursor() as cur:
        cur.execute("select count(*) from marts.fct_sdg_observation")
        cur.execute("select pg_backend_pid()")
        pid = cur.fetchone()[0]
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    with pytest.raises(
        publish.PublishError, match=rf"readers held locks through 2 attempts.*Held by: pid {pid}"
    ):
        publish.swap(publisher, attempts=2, lock_timeout="200ms", backoff=1.1, reader_grace=0)
    publisher.close()
    with pipeline_step.cursor() as cur:
        cur.execute("select 1")  # still alive
    pipeline_step.close()
    assert _marts_night(admin) == 4


def test_publish_refuses_objects_that_depend_on_anything_outside_their_schema(admin, warehouse_url):
    """A view reading a seed or an intermediate table would be dropped with it by a seed reload or a
    model rebuild (`drop ... cascade`): publish names it and leaves marts as they are."""
    _fresh_audit(admin, 6)
    with admin.cursor() as cur:
        cur.execute("create view marts_audit.v_persons as select person_pid from intermediate.int_persons")
        cur.execute("create sequence intermediate.row_ids")
        cur.execute("create table marts_audit.numbered (id bigint default nextval('intermediate.row_ids'))")
    admin.commit()
    before = publish.schema_checksum(admin)
    publisher = psycopg2.connect(roles.as_role(warehouse_url, roles.TRANSFORMER))
    with pytest.raises(publish.PublishError) as refused:
        publish.swap(publisher)
    publisher.close()
    message = str(refused.value)
    assert "view marts_audit.v_persons depends on table intermediate.int_persons" in message
    assert "table marts_audit.numbered depends on sequence intermediate.row_ids" in message
    assert "v_sdg_observation_latest" not in message  # a view on its own schema's tables is fine
    assert publish.schema_checksum(admin) == before and _marts_night(admin) == 4
    with admin.cursor() as cur:
        cur.execute("drop schema marts_audit cascade")
        cur.execute("drop sequence intermediate.row_ids")
    admin.commit()
