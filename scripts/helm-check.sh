#!/usr/bin/env bash
# Every check of the Helm chart, the image recipe and the observability code, as CI runs them:
#   scripts/helm-check.sh            static checks (lint, render under ci/ profiles, kubernetes-validate,
#                                    checkov, promtool rule tests, metrics register, image deps) ~2 min
#   scripts/helm-check.sh --wiring   also start the rendered processes locally against PostgreSQL and
#                                    RabbitMQ and run a complaint through the gateway (needs both running:
#                                    `make services`)
# Tools are installed once into .tools/ by scripts/install-helm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || { echo "no project virtualenv: run 'make venv' first" >&2; exit 1; }
bash scripts/install-helm.sh helm promtool checkov
tests=(tests/helm/test_chart.py)
[ "${1:-}" = "--wiring" ] && tests+=(tests/helm/test_chart_wiring.py)
exec "$PY" -m pytest -q -p no:cacheprovider "${tests[@]}"
