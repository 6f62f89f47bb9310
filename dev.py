#!/usr/bin/env python3
"""Two-command quick start for Steward, needing nothing but Python 3.11+.

    python3 dev.py run    # create .venv, install Steward, start the bot (python -m bot)
    python3 dev.py test   # create .venv, install Steward with test tools, run ruff, mypy, pytest

Extra arguments go to the bot (``run``) or to pytest (``test``). The virtualenv is reinstalled
only when pyproject.toml or the lock in requirements/ changes, so repeated runs start at once.

Dependencies come from requirements/base.txt (run) and requirements/test.txt (test), exact versions
compiled from pyproject.toml; see the README's "Upgrading dependencies".
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("STEWARD_VENV", ROOT / ".venv"))
MIN_PYTHON = (3, 11)


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def ensure_installed(extras: str) -> Path:
    """Create the virtualenv and install the project once per pyproject.toml version."""
    python = venv_python()
    if not python.exists():
        print(f"dev.py: creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    lock = ROOT / "requirements" / ("test.txt" if extras else "base.txt")
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + lock.read_bytes() + extras.encode()
    ).hexdigest()
    stamp = VENV / f".steward-installed-{extras or 'base'}"
    if not stamp.exists() or stamp.read_text() != digest:
        print(
            f"dev.py: installing the locked dependencies ({lock.relative_to(ROOT)}) ...", flush=True
        )
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        # Exact versions from the lock first, then Steward itself without re-resolving anything,
        # so every machine runs what CI ran.
        subprocess.check_call([*pip, "--requirement", str(lock)])
        subprocess.check_call([*pip, "--no-deps", "--editable", str(ROOT)])
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print("Steward needs Python 3.11 or newer.", file=sys.stderr)
        return 2
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "run":
        python = ensure_installed("")
        return subprocess.call([str(python), "-m", "bot", *rest])
    python = ensure_installed("test")
    lint = subprocess.call([str(python), "-m", "ruff", "check", "."]) or subprocess.call(
        [str(python), "-m", "ruff", "format", "--check", "."]
    )
    if lint != 0:
        print("dev.py: ruff found problems (see above)", file=sys.stderr)
        return lint
    # The files and the strictness are in pyproject.toml's [tool.mypy]; the cache in
    # .mypy_cache makes a re-run after a small change take seconds.
    types = subprocess.call([str(python), "-m", "mypy"])
    if types != 0:
        print("dev.py: mypy found type errors (see above)", file=sys.stderr)
        return types
    return subprocess.call([str(python), "-m", "pytest", *rest])


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
