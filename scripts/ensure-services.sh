#!/usr/bin/env bash
# Makes sure the local services the stack or the tests need are up:
#   ensure-services.sh [postgres] [rabbitmq] [chromium]
# Uses what is already listening; otherwise starts the Debian packages, installing them if missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "please install: $*  (needs root)" >&2; exit 1; fi
  echo "installing $* ..."
  apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null
}
ensure_postgres() {
  listening 5432 && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
  echo "starting PostgreSQL $version ..."
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 60); do listening 5432 && break; sleep 0.5; done
  # A fresh cluster uses password auth on TCP: give the superuser the password the tests use.
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
}
ensure_rabbitmq() {
  listening 5672 && return 0
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  echo "starting RabbitMQ (about 15 s) ..."
  rabbitmq-server -detached >/dev/null 2>&1 || true
  timeout 120 rabbitmqctl await_startup >/dev/null
}
ensure_chromium() {
  # Real browsers for the web-page journeys.
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install chromium chromium-driver
  fi
}
for service in "$@"; do
  case "$service" in
    postgres) ensure_postgres ;;
    rabbitmq) ensure_rabbitmq ;;
    chromium) ensure_chromium ;;
    *) echo "unknown service: $service" >&2; exit 2 ;;
  esac
done
