"""Platform: what every stage uses: configuration, the warehouse, roles and grants, the kinds
of error, ``lnob_meta``, log levels.
"""
