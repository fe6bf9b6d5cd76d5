"""A real Redis for the Celery broker: Debian's `redis-server` on 127.0.0.1 on a free port, in a
temporary folder, stopped afterwards; installed with apt-get first when the machine lacks it (CI
runs as root on a clean machine). The code lives in ``lnob.airflow.celery_local`` because
``make bench-celery`` starts the same server."""

from lnob.airflow.celery_local import redis_server, redis_server_bin

__all__ = ["redis_server", "redis_server_bin"]
