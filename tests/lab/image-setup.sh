#!/bin/sh
# Runs once inside the freshly debootstrapped image (chroot), before it is cached.
# Everything per host (name, address, keys, proxy) is written at boot time by
# tests/lab/hosts.py instead, so one cached image serves every host of every lab.
set -eu

# Each host gets its own machine id and SSH host keys at first boot, never the image's.
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
rm -f /etc/hostname

# nspawn's console is passive: a getty on it would only spin.
systemctl mask console-getty.service
# Timers that run apt in the background would hold the dpkg lock in the middle of
# a deploy; a lab host is recreated, never upgraded in place.
systemctl mask apt-daily.timer apt-daily-upgrade.timer
systemctl enable systemd-networkd.service ssh.service

# The user Ansible connects as, as on a production host.
useradd --create-home --shell /bin/bash deploy
install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
printf 'deploy ALL=(ALL) NOPASSWD:ALL\n' > /etc/sudoers.d/deploy
chmod 0440 /etc/sudoers.d/deploy
# The controller's locale may not exist here; modules run in C.UTF-8 anyway.
sed -i 's/^AcceptEnv/#AcceptEnv/' /etc/ssh/sshd_config

# No DNS server is reachable from a lab host: fail fast instead of timing out.
rm -f /etc/resolv.conf
printf '# lab hosts resolve names through /etc/hosts; registries through the proxy\n' \
    > /etc/resolv.conf

apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old
