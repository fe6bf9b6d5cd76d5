"""Ingest: partner files and APIs into the landing folder, the loader into raw tables and
the delivery ledger.
"""
