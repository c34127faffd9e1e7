#!/usr/bin/env bash
# Create .venv and install the assistant with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch is pinned in pyproject.toml (2.13.0, CPU build); an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet -e '.[test,mcp]'
echo "setup done: .venv is ready"
