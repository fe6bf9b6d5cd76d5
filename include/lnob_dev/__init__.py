"""Development tools, not part of the runtime package (the production image leaves them out):
the synthetic-delivery generator (``sample``) and the benchmarks (``bench*``).
"""
