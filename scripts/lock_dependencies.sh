#!/usr/bin/env bash
# Recompile the dependency locks from pyproject.toml (exact versions, every platform).
#   bash scripts/lock_dependencies.sh            # keep current pins where still allowed
#   bash scripts/lock_dependencies.sh --upgrade  # move every pin to the newest allowed release
# Then run `python3 dev.py test` and commit pyproject.toml with requirements/*.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
TOOLS="${TMPDIR:-/tmp}/steward-lock-tools"
[ -x "$TOOLS/bin/uv" ] || { python3 -m venv "$TOOLS" && "$TOOLS/bin/pip" install --quiet "uv==$UV_VERSION"; }
common=(--universal --python-version 3.11 --no-header --index-url https://pypi.org/simple "$@")
"$TOOLS/bin/uv" pip compile pyproject.toml "${common[@]}" -o requirements/base.txt
"$TOOLS/bin/uv" pip compile pyproject.toml --extra test "${common[@]}" -o requirements/test.txt
