#!/usr/bin/env bash
# Makes sure the tools the fleet lab (tests/lab) needs exist: systemd-nspawn,
# debootstrap, tinyproxy, ssh, ip. As root it installs them with apt; otherwise
# it prints the one command to run.
set -euo pipefail

have_all() {
    command -v systemd-nspawn && command -v debootstrap && command -v tinyproxy \
        && command -v ssh && command -v ssh-keygen && command -v ip && command -v nsenter
}

if have_all >/dev/null 2>&1; then
    exit 0
fi
packages="systemd-container debootstrap tinyproxy openssh-client iproute2 util-linux"
if [ "$(id -u)" -ne 0 ]; then
    echo "missing lab tools: run 'sudo apt-get install -y $packages' and retry" >&2
    exit 1
fi
"$(dirname "$0")/apt-install-no-start.sh" $packages
have_all >/dev/null
