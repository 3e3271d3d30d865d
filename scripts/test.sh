#!/usr/bin/env bash
# Set everything up, lint (ruff, ruff.toml), then run the whole test suite (ROS tests included,
# for real). A lint finding fails the script before any test runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export ANNY_CACHE_DIR="${ANNY_CACHE_DIR:-$PWD/.cache/anny}"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
