"""Quality: the Great Expectations gates (raw per source, marts), per-source isolation and
Data Docs.
"""
