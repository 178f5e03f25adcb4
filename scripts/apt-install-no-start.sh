#!/usr/bin/env bash
# Install Debian packages (as root) without letting their scripts start a service on
# its default configuration: the tests start their own servers, the lab its own proxy,
# and the deploy playbook manages the real ones.
# Usage: scripts/apt-install-no-start.sh PACKAGE...
set -euo pipefail
echo "installing $* with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
else
    trap - EXIT
fi
apt-get install -y -qq "$@" >/dev/null
