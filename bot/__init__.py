"""Steward: a Telegram bot that does the day-to-day work of a community's SMM team."""

import os

# One thread for the numeric libraries, set before numpy or the model engine load (this package
# is imported first). Steward is an asyncio program whose model work runs in one worker thread:
# OpenBLAS and OpenMP thread pools would spin on the core the event loop needs. Measured on a
# busy 2-core machine: a FAQ lookup's mat-vec 1.0 ms -> 0.12 ms, a question's embedding
# 112 ms -> 19 ms, the spam and complaint neighbour scans 13 ms -> 0.4 ms. An operator may still
# set these variables to other values.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

__version__ = "0.1.0"

# glibc's malloc set for a few threads and big arrays (see there), before any thread starts
from bot.lean_types import tune_heap  # noqa: E402

tune_heap()

# aiogram's types get their pydantic schemas on first use instead of all at import (see there).
from bot.lean_types import import_aiogram_types_deferred  # noqa: E402

import_aiogram_types_deferred()
