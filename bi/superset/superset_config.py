"""Superset's configuration, the same file locally (`make superset`, tests/test_bi.py: SQLite
metadata in .lnob/superset) and in production (docker-compose.yml: PostgreSQL `superset-db`).
Everything secret or place-dependent comes from the environment."""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_DB_URI"]
# the dashboard is imported from bi/superset/assets; no example data, no telemetry
SUPERSET_LOAD_EXAMPLES = False
# the data is the warehouse's: SQL Lab may read (as lnob_bi_reader), never write or upload
PREVENT_UNSAFE_DB_CONNECTIONS = True
