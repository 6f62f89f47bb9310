"""Steward: a Telegram bot that does the day-to-day work of a community's SMM team."""

import os

# numpy's BLAS would start a thread per core for every matrix-vector product. Steward's are
# small (a message's vector against a few thousand samples, well under a millisecond on one
# core), and on a busy machine the extra threads spin and wait: bench/pipeline.py measured the
# spam and complaint neighbour scans at 13 ms each instead of 0.4 ms. Set before numpy loads;
# an operator's own setting wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

__version__ = "0.1.0"
