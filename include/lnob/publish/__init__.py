"""Publish: the schema swap into ``marts`` and what reads the published marts: the exports
(SDMX, Open SDG, CSV, Parquet), the run report, the BI set-up, the Airflow assets.
"""
