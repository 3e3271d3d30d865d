#!/usr/bin/env bash
# Sets up everything hamst3r_ros needs on a fresh Debian/Ubuntu machine with Python 3.11:
# Debian packages (only those missing), a project-local venv (.venv) with pinned PyPI
# packages, our ROS 2 message packages generated with cmake into that venv, and the
# project itself (editable). Idempotent: a second run only checks and returns.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
log() { printf '[setup] %s\n' "$*"; }

# 1. Debian packages: libusb for open3d, cmake + g++ to generate message packages, venv.
need=()
for pkg in libusb-1.0-0 cmake g++ make; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. The venv with pinned packages (re-installed only when requirements.txt changes).
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing pinned Python packages (first time: about a minute)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

# 3. Our message packages, generated into the venv (skipped when already built and current).
[ -f scripts/build_interfaces.sh ] && bash scripts/build_interfaces.sh

# 4. The project itself, editable, with its console scripts (hamst3r, hamst3r_node, sim_cameras).
if ! .venv/bin/python -c 'import hamst3r_ros, sys; sys.exit(0 if hamst3r_ros.__file__.startswith(sys.argv[1]) else 1)' "$here" >/dev/null 2>&1 \
   || [ ! -x .venv/bin/hamst3r ] || [ setup.py -nt .venv/bin/hamst3r ]; then
  log "installing hamst3r_ros (editable)"
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
fi
log "ready: $(.venv/bin/python --version), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
