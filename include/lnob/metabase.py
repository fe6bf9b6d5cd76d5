"""Metabase reads the published marts as ``lnob_bi_reader``, set up through its HTTP API.

``lnob metabase setup`` (the compose job ``metabase-setup``) does, idempotently:

1. on a fresh Metabase (``/api/session/properties`` still holds a ``setup-token``), creates the
   admin from ``LNOB_METABASE_ADMIN_EMAIL`` / ``LNOB_METABASE_ADMIN_PASSWORD``; afterwards logs in
   as that admin;
2. adds the warehouse as the data source ``LNOB marts`` (PostgreSQL, schema ``marts`` only),
   logged in as ``lnob_bi_reader`` with ``LNOB_BI_READER_PASSWORD``; if it is there already, sets
   its connection again (a rotated password, a moved warehouse).

Why the API and not a config file: Metabase's config file is a paid feature; the setup and
database endpoints work on the open-source edition. Metabase never sees the pipeline's own
user, so a dashboard cannot read raw, staging or audit data: PostgreSQL refuses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from lnob import roles
from lnob.config import PUBLISHED_SCHEMA, settings

DATABASE_NAME = "LNOB marts"
TIMEOUT = 60


class MetabaseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    """Where Metabase is, who administers it, and how it reaches the warehouse."""

    url: str
    admin_email: str
    admin_password: str
    host: str
    port: int
    dbname: str
    reader_password: str

    @classmethod
    def from_env(cls) -> Target:
        missing = [v for v in ("LNOB_METABASE_ADMIN_EMAIL", "LNOB_METABASE_ADMIN_PASSWORD") if not os.environ.get(v)]
        cfg = settings()
        if not cfg.warehouse_url:
            missing.append("LNOB_WAREHOUSE_URL")
        if missing:
            raise MetabaseError("metabase setup needs " + ", ".join(missing))
        wh = urlsplit(cfg.warehouse_url)
        return cls(
            url=os.environ.get("LNOB_METABASE_URL", "http://localhost:3000").rstrip("/"),
            admin_email=os.environ["LNOB_METABASE_ADMIN_EMAIL"],
            admin_password=os.environ["LNOB_METABASE_ADMIN_PASSWORD"],
            # the warehouse as Metabase's container sees it (may differ from the pipeline's view)
            host=os.environ.get("LNOB_METABASE_DATABASE_HOST") or wh.hostname or "localhost",
            port=int(os.environ.get("LNOB_METABASE_DATABASE_PORT") or wh.port or 5432),
            dbname=wh.path.lstrip("/") or "lnob",
            reader_password=roles.reader_password(cfg),
        )

    def database(self) -> dict:
        """The Metabase data source: the warehouse as lnob_bi_reader, the marts schema only."""
        return {
            "engine": "postgres",
            "name": DATABASE_NAME,
            "details": {
                "host": self.host,
                "port": self.port,
                "dbname": self.dbname,
                "user": roles.READER,
                "password": self.reader_password,
                "ssl": False,
                "schema-filters-type": "inclusion",
                "schema-filters-patterns": PUBLISHED_SCHEMA,
            },
        }


def _check(resp: requests.Response, what: str) -> dict | list:
    if resp.status_code >= 400:
        raise MetabaseError(f"metabase {what}: HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json() if resp.content else {}


def _session(http: requests.Session, t: Target) -> tuple[str, str]:
    """A session id: the first admin created on a fresh Metabase, else the admin logged in."""
    props = _check(http.get(f"{t.url}/api/session/properties", timeout=TIMEOUT), "session properties")
    token = props.get("setup-token") if isinstance(props, dict) else None
    if token and not props.get("has-user-setup"):
        body = {"token": token,
                "user": {"email": t.admin_email, "password": t.admin_password, "first_name": "LNOB",
                         "last_name": "Admin", "site_name": "Leave No One Behind"},
                "prefs": {"site_name": "Leave No One Behind", "allow_tracking": False}}
        done = _check(http.post(f"{t.url}/api/setup", json=body, timeout=TIMEOUT), "setup")
        return done["id"], "created the Metabase admin " + t.admin_email
    done = _check(http.post(f"{t.url}/api/session", json={"username": t.admin_email, "password": t.admin_password},
                            timeout=TIMEOUT), "login")
    return done["id"], "logged in as " + t.admin_email


def setup(target: Target | None = None) -> list[str]:
    """Make Metabase read the warehouse as lnob_bi_reader; returns what it did."""
    t = target or Target.from_env()
    with requests.Session() as http:
        session_id, did = _session(http, t)
        http.headers["X-Metabase-Session"] = session_id
        listed = _check(http.get(f"{t.url}/api/database", timeout=TIMEOUT), "list databases")
        databases = listed.get("data", []) if isinstance(listed, dict) else listed
        existing = [d for d in databases if d.get("name") == DATABASE_NAME]
        if existing:
            db_id = existing[0]["id"]
            _check(http.put(f"{t.url}/api/database/{db_id}", json=t.database(), timeout=TIMEOUT), "update database")
            action = f"updated the data source {DATABASE_NAME!r} (id {db_id})"
        else:
            db_id = _check(http.post(f"{t.url}/api/database", json=t.database(), timeout=TIMEOUT),
                           "add database")["id"]
            action = f"added the data source {DATABASE_NAME!r} (id {db_id})"
    return [did, f"{action}: postgres://{roles.READER}@{t.host}:{t.port}/{t.dbname}, schema {PUBLISHED_SCHEMA}"]
