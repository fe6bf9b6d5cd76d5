"""The kinds of failure, by what a retry can do about them.

Every error the pipeline raises on purpose is an :class:`LnobError`. Its kind, not the task it
happens in, decides whether Airflow tries again:

- :class:`NotRetryable`: the same input fails the same way until someone changes something (an
  invalid registry, a missing secret, credentials an API refuses, a gate that failed, a source
  whose ``gate_policy`` blocks the night). The task fails at once, without its retries, and the
  message says what to change.
- :class:`Retryable`: the cause may be gone a few minutes later (a warehouse restarting, an API
  answering 5xx or dropping the connection after the connector's own retries). Airflow's retries
  (``LNOB_TASK_RETRIES``, ``LNOB_TASK_RETRY_DELAY``) apply.

An error of neither kind (a bug, an unexpected library error) is retried as Airflow's default does.
Each concrete error keeps the built-in base it always had (``RuntimeError``, ``ValueError``), so
code that caught those still does.
"""

from __future__ import annotations


class LnobError(Exception):
    """An error the pipeline raises on purpose, with a message naming what failed and why."""


class NotRetryable(LnobError):
    """Will fail the same way on the next try: fail the task at once."""


class Retryable(LnobError):
    """May pass on a later try: Airflow's retries apply."""
