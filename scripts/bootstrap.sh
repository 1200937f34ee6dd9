#!/usr/bin/env bash
# Creates the project virtualenv with the pinned dependency set (requirements*.txt).
# On a fresh Debian machine python3-venv may be missing: install it when we can (root).
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null; then
  if command -v python3.11 >/dev/null; then PYTHON=python3.11; else
    echo "Concilia needs Python 3.11 (found: $("$PYTHON" --version 2>&1))" >&2; exit 1; fi
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-venv ..."
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev >/dev/null
  else
    echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 1
  fi
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade "pip>=23" >/dev/null
"$VENV/bin/python" -m pip install -q -r requirements-dev.txt
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -m pip check
