#!/usr/bin/env bash
# Makes sure the server binaries the tests start exist: PostgreSQL, Redis and
# Prometheus (with promtool), Alertmanager and the postgres and redis exporters.
# As root it installs them with apt; otherwise it prints the one command to run.
set -euo pipefail

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
have_redis() { command -v redis-server >/dev/null 2>&1; }
have_prometheus() {
    for tool in promtool prometheus prometheus-alertmanager prometheus-postgres-exporter \
        prometheus-redis-exporter; do
        command -v "$tool" >/dev/null 2>&1 || return 1
    done
}
have_all() { have_postgres && have_redis && have_prometheus; }

if have_all; then
    exit 0
fi
packages="postgresql postgresql-contrib redis-server prometheus prometheus-alertmanager
 prometheus-postgres-exporter prometheus-redis-exporter"
packages=$(echo $packages)
if [ "$(id -u)" -ne 0 ]; then
    echo "missing server binaries: run 'sudo apt-get install -y $packages' and retry" >&2
    exit 1
fi
echo "installing $packages with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps apt from starting the distribution's own servers: the tests
# start throwaway ones, and the deploy playbook manages the real ones.
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
else
    trap - EXIT
fi
apt-get install -y -qq $packages >/dev/null
have_all
