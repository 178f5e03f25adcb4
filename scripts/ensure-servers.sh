#!/usr/bin/env bash
# Makes sure the server binaries the tests start exist: PostgreSQL, PgBouncer, Redis,
# pgBackRest and Prometheus (with promtool), Alertmanager and the postgres and redis
# exporters; the system Python's psycopg (our PgBouncer exporter runs on it); and nft,
# which the firewall's tests load into a network namespace of their own.
# As root it installs them with apt; otherwise it prints the one command to run.
set -euo pipefail

have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
have_redis() { command -v redis-server >/dev/null 2>&1; }
have_pgbouncer() { [ -x /usr/sbin/pgbouncer ] && /usr/bin/python3 -c 'import psycopg' 2>/dev/null; }
have_prometheus() {
    for tool in promtool prometheus prometheus-alertmanager prometheus-postgres-exporter \
        prometheus-redis-exporter; do
        command -v "$tool" >/dev/null 2>&1 || return 1
    done
}
have_pgbackrest() { command -v pgbackrest >/dev/null 2>&1; }
have_nft() { command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ]; }
have_all() { have_postgres && have_pgbouncer && have_redis && have_pgbackrest && have_prometheus && have_nft; }

if have_all; then
    exit 0
fi
packages="postgresql postgresql-contrib pgbouncer python3-psycopg redis-server pgbackrest prometheus prometheus-alertmanager
 prometheus-postgres-exporter prometheus-redis-exporter nftables"
packages=$(echo $packages)
if [ "$(id -u)" -ne 0 ]; then
    echo "missing server binaries: run 'sudo apt-get install -y $packages' and retry" >&2
    exit 1
fi
"$(dirname "$0")/apt-install-no-start.sh" $packages
have_all
