#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running cairn: installs the
# packages, builds, installs, creates the cairn-admin group, starts cairnd (which sets up the
# default btrfs pool and the busybox image), launches a container, snapshots it and shows it.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "Error: run this as root" >&2; exit 1; }

bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null

groupadd -f cairn-admin
# The person who ran sudo becomes an admin (new logins pick the group up).
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	usermod -aG cairn-admin "$SUDO_USER"
fi

export CAIRN_DIR=${CAIRN_DIR:-/var/lib/cairn}
socket="$CAIRN_DIR/unix.socket"
if ! cairn list >/dev/null 2>&1; then
	if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
		systemctl daemon-reload
		systemctl enable --now cairnd
	else
		# No systemd here (a container or a minimal VM): run it in the background.
		mkdir -p /var/log
		nohup cairnd >>/var/log/cairnd.log 2>&1 &
	fi
	for _ in $(seq 1 300); do
		[ -S "$socket" ] && cairn list >/dev/null 2>&1 && break
		sleep 0.1
	done
fi
cairn storage list
cairn image list
cairn info demo >/dev/null 2>&1 || cairn launch busybox demo
# A snapshot before anything risky, as users do.
cairn snapshot create demo
cairn list
cairn info demo
