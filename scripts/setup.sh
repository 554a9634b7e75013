#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running cairn: installs the
# packages, builds, installs, creates the cairn-admin group, starts cairnd (which sets up the
# default btrfs pool and the busybox image), launches a container, snapshots it and shows it.
# Safe to run again: what is already there is kept, and each run adds one snapshot.
#
# Where things go (the defaults are the usual ones):
#   CAIRN_PREFIX  install prefix                       (/usr/local)
#   CAIRN_DIR     cairnd's state                       (/var/lib/cairn)
#   CAIRN_LOG     cairnd's log when there is no systemd (/var/log/cairnd.log)
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "Error: run this as root" >&2; exit 1; }

bash scripts/deps.sh
prefix=${CAIRN_PREFIX:-/usr/local}
log=${CAIRN_LOG:-/var/log/cairnd.log}
# The test command builds in the same tree with the tests on; either may run first.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
	-DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build build -j"$(nproc)"
cmake --install build >/dev/null
cairn=$prefix/bin/cairn
cairnd=$prefix/bin/cairnd

groupadd -f cairn-admin
# The person who ran sudo becomes an admin (new logins pick the group up).
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
	usermod -aG cairn-admin "$SUDO_USER"
fi

export CAIRN_DIR=${CAIRN_DIR:-/var/lib/cairn}
socket="$CAIRN_DIR/unix.socket"
if ! "$cairn" list >/dev/null 2>&1; then
	# systemd finds the unit only under its own prefixes.
	if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ "$prefix" = /usr/local ] &&
		[ "$CAIRN_DIR" = /var/lib/cairn ]; then
		systemctl daemon-reload
		systemctl enable --now cairnd
	else
		# No systemd here (a container or a minimal VM): run it in the background.
		mkdir -p "$(dirname "$log")"
		nohup "$cairnd" </dev/null >>"$log" 2>&1 &
		echo "cairnd started (pid $!), logging to $log"
	fi
	for _ in $(seq 1 600); do
		[ -S "$socket" ] && "$cairn" list >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$cairn" list >/dev/null || { tail -20 "$log" >&2 2>/dev/null; exit 1; }
fi
"$cairn" storage list
"$cairn" image list
"$cairn" info demo >/dev/null 2>&1 || "$cairn" launch busybox demo
# A snapshot before anything risky, as users do.
"$cairn" snapshot create demo
"$cairn" list
"$cairn" info demo
