"""Debian's Chromium as the Mini App's browser tests and `bench/miniapp.py` start it.

The flags keep a headless Chromium on this closed network quiet: without the background-networking
ones it keeps dialling Google's hosts and gets refused many times a second, which the render
measurements would count. One list, so the bench measures the browser the tests check.
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("STEWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
