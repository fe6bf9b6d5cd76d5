"""Transform: the dbt runner and what the models rest on: the reference seeds, pseudonyms,
testimonies, masking, disclosure control.
"""
