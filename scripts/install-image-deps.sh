#!/usr/bin/env bash
# The image's install steps, as a script CI runs too (there is no Docker engine on CI machines):
#   install-image-deps.sh VENV_DIR [REQUIREMENTS]
# Creates a virtualenv with the runtime dependencies only (requirements.txt, no dev tools), checks it
# is consistent, and byte-compiles it (the container's root file system is read-only at run time).
# The Dockerfile's build stage runs exactly this; tests/helm/test_chart.py runs it into
# .tools/image-venv and starts the chart's commands with it.
set -euo pipefail
VENV=${1:?usage: install-image-deps.sh VENV_DIR [REQUIREMENTS]}
REQUIREMENTS=${2:-$(cd "$(dirname "$0")/.." && pwd)/requirements.txt}
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Concilia needs Python 3.11, not " + sys.version'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q --upgrade "pip>=23"
# Binary wheels only: the image has no compiler, and a source build would differ from CI's.
"$VENV/bin/python" -m pip install -q --only-binary=:all: -r "$REQUIREMENTS"
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -m compileall -q "$VENV/lib" >/dev/null || true
echo "image dependencies installed in $VENV"
