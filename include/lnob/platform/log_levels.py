"""Which libraries may speak in a task log, set in one place.

Great Expectations logs hundreds of INFO lines per validation (expectation registration, batch
filters, data context loading) and dbt prints a line per model and test; a task log should say what
the stage did in a few lines, the cause of a failure first. Their records below WARNING are
dropped (the stage's own lines, from the ``lnob`` loggers, are kept); ``LNOB_LIBRARY_LOG_LEVEL=DEBUG``
shows everything again. dbt's console level is set on its command line (lnob.transform.runner).
"""

from __future__ import annotations

import logging
import os

#: Loggers of libraries the stages call, and the least level they log at by default.
NOISY = ("great_expectations", "dbt", "dbt_common", "urllib3", "matplotlib", "PIL", "fontTools")
VARIABLE = "LNOB_LIBRARY_LOG_LEVEL"


def quiet_libraries() -> None:
    """Set the noisy libraries' loggers to ``LNOB_LIBRARY_LOG_LEVEL`` (default WARNING); idempotent."""
    name = os.environ.get(VARIABLE, "WARNING").strip().upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        level = logging.WARNING
    for logger in NOISY:
        logging.getLogger(logger).setLevel(level)
    # dbt's in-process runs leave multiprocessing semaphores for Python's resource tracker to
    # clean up at exit; its warning about them lands in the task log as two ERROR lines after the
    # task (the tracker is a process of its own, started later: it reads PYTHONWARNINGS)
    if level > logging.DEBUG and TRACKER_WARNING not in os.environ.get("PYTHONWARNINGS", ""):
        os.environ["PYTHONWARNINGS"] = ",".join(
            w for w in (os.environ.get("PYTHONWARNINGS"), TRACKER_WARNING) if w
        )


TRACKER_WARNING = "ignore:resource_tracker:UserWarning"
