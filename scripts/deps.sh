#!/usr/bin/env bash
# Installs every Debian 12 package cairn needs to build, run and test. Idempotent.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config clang-format
	lxc-dev libbtrfsutil-dev libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev
	libarchive-dev libyaml-dev libsqlite3-dev libreadline-dev libcmocka-dev
	# GnuTLS headers (certificates; libmicrohttpd serves HTTPS with it)
	libgnutls28-dev
	# managed networks: bridges and addresses over netlink, the NAT rules
	libnl-route-3-dev libnftables-dev
	# libarchive's own dependencies, to link it statically (CMakeLists.txt says why)
	liblzma-dev libzstd-dev liblz4-dev libbz2-dev zlib1g-dev libacl1-dev nettle-dev libxml2-dev
	# run
	lxc uidmap btrfs-progs busybox-static
	# managed networks: dnsmasq for DHCP and DNS, ip and nft for the tests and for looking
	dnsmasq-base iproute2 nftables
	# test and benchmark
	jq python3 curl tmux xz-utils zstd acl attr file binutils hyperfine openssl
	# the upstream client the API is checked against (tests/e2e/89-lxc-client.sh)
	lxd-client
	# headless Chromium driving the web page (tests/e2e/63-webui.sh, bench/webui.sh)
	chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
