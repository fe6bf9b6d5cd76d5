"""Airflow: the environment the DAG runs in (home, connections, Celery) and failure alerts.

An absolute ``import airflow`` in here is Apache Airflow; this package is ``lnob.airflow``.
"""
