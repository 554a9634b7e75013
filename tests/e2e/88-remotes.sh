#!/usr/bin/env bash
# Remotes end to end: a second cairnd reached over HTTPS on 127.0.0.1, trusted by a one-time
# token, driven by an admin-group user with its own config directory; the server config, the
# trust store, and the faults: bad addresses, an untrusted client, a token used twice or too
# late, a revoked certificate, a server whose certificate changed, a server that is not cairnd.
. "$(dirname "$0")/lib.sh"
[ "$BACKEND" = dir ] && skip_all "remotes do not depend on the storage backend (run with btrfs)"
command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
setup

trap 'rc=$?; kill -KILL $B_PID $SSERVER_PID 2>/dev/null; (exit $rc); cleanup' EXIT

# The admin-group user with a home (and so a config directory) of its own.
RHOME="$T/rhome"
mkdir -p "$RHOME"
chown "$ADMIN_USER" "$RHOME"
chmod 0700 "$RHOME"
as_user() {
	setpriv --reuid="$ADMIN_USER" --regid="$(id -g "$ADMIN_USER")" --init-groups \
		env HOME="$RHOME" CAIRN_DIR="$CAIRN_DIR" PATH="$PATH" "$@"
}

second_daemon
P=$(free_port)
ADDR="127.0.0.1:$P"

# ---- the server config and bad addresses ----
check_eq "no address at first" "" "$(on_b cairn config get core.https_address)"
check_fails "a port past 65535" \
	'Error: Invalid value "127.0.0.1:99999" for "core.https_address": Invalid address "127.0.0.1:99999": the port must be 1 to 65535' \
	on_b cairn config set core.https_address 127.0.0.1:99999
check_fails "IPv6 without brackets" "" on_b cairn config set core.https_address ::1:8443
check_fails "a host name is not an address to listen on" "" \
	on_b cairn config set core.https_address localhost:8443
check_fails "an address not on this host" "" on_b cairn config set core.https_address 192.0.2.1:$P
check_fails "an unknown server key" "" on_b cairn config set core.nosuch 1
check_eq "nothing was set" "" "$(on_b cairn config get core.https_address)"
check "set core.https_address" on_b cairn config set core.https_address "$ADDR"
check_eq "config get shows it" "$ADDR" "$(on_b cairn config get core.https_address)"
check_match "GET /1.0 shows the address" "\"$ADDR\"" \
	"$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -c .metadata.environment.addresses)"
FP=$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -r .metadata.environment.certificate_fingerprint)
check_match "GET /1.0 shows the certificate fingerprint" '^[0-9a-f]{64}$' "$FP"
check_eq "the key is private" 600 "$(stat -c %a "$B_DIR/server.key")"
check_eq "over the socket the client is trusted" trusted \
	"$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -r .metadata.auth)"
check_fails "the port is taken by the other daemon" "" cairn config set core.https_address "$ADDR"
check_eq "the refused address was not stored" "" "$(cairn config get core.https_address)"

# ---- an untrusted client ----
check_eq "an untrusted client reads GET /1.0" untrusted \
	"$(curl -sk "https://$ADDR/1.0" | jq -r .metadata.auth)"
check_eq "without environment" null "$(curl -sk "https://$ADDR/1.0" | jq -c .metadata.environment)"
for req in "GET /1.0/instances" "POST /1.0/instances" "GET /1.0/certificates" "PUT /1.0" \
	"PATCH /1.0" "GET /1.0/nosuch" "GET /" "DELETE /1.0/certificates/$FP" "GET /1.0/events"; do
	set -- $req
	check_eq "untrusted: $req is 403" 403 \
		"$(curl -sk -o /dev/null -w '%{http_code}' -X "$1" -d '{}' "https://$ADDR$2")"
done
check_eq "untrusted: asking for a token is 403" 403 \
	"$(curl -sk -o /dev/null -w '%{http_code}' -X POST -d '{"token":true,"name":"x"}' "https://$ADDR/1.0/certificates")"
check_eq "untrusted: adding a certificate without a token is 403" 403 \
	"$(curl -sk -o /dev/null -w '%{http_code}' -X POST -d '{"certificate":"x"}' "https://$ADDR/1.0/certificates")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-out "$T/other.crt" -days 1 -subj /CN=other >/dev/null 2>&1
check_eq "an unknown client certificate is 403 too" 403 \
	"$(curl -sk --cert "$T/other.crt" --key "$T/other.key" -o /dev/null -w '%{http_code}' "https://$ADDR/1.0/instances")"
check_eq "a made-up token is refused" 403 \
	"$(curl -sk -o /dev/null -w '%{http_code}' -X POST -d '{"trust_token":"abcd"}' \
		--cert "$T/other.crt" --key "$T/other.key" "https://$ADDR/1.0/certificates")"

# ---- adding the remote ----
check_fails "an address without a terminal or --accept-certificate" "" \
	as_user cairn remote add b "$ADDR"
check_fails "nor with --accept-certificate while the client is not trusted" "" \
	as_user cairn remote add b "$ADDR" --accept-certificate
check_eq "nothing was stored" "local" "$(as_user cairn remote list -f csv | cut -d, -f1 | sed 's/ (current)//' | tr '\n' ' ' | sed 's/ $//')"
TOKEN=$(on_b cairn config trust add laptop | tail -1)
check_match "trust add prints a token" '^[A-Za-z0-9+/=]{100,}$' "$TOKEN"
check_match "the token names the server's fingerprint and address" "\"$FP\".*\"$ADDR\"" \
	"$(printf %s "$TOKEN" | base64 -d | jq -c '[.fingerprint, .addresses[0]]')"
check_match "list-tokens shows it" '^laptop,' "$(on_b cairn config trust list-tokens -f csv)"
check "remote add b TOKEN" as_user cairn remote add b "$TOKEN"
check_eq "the config directory is private" 700 "$(stat -c %a "$RHOME/.config/cairn")"
check_eq "the client key is private" 600 "$(stat -c %a "$RHOME/.config/cairn/client.key")"
check_eq "the server certificate is stored" "$FP" \
	"$(openssl x509 -in "$RHOME/.config/cairn/servercerts/b.crt" -outform DER | sha256sum | cut -d' ' -f1)"
check_match "config.yml names the remote" "addr: https://$ADDR" "$(cat "$RHOME/.config/cairn/config.yml")"
check_eq "the token is used up" "" "$(on_b cairn config trust list-tokens -f csv)"
CFP=$(openssl x509 -in "$RHOME/.config/cairn/client.crt" -outform DER | sha256sum | cut -d' ' -f1)
check_match "the client is in the trust store as laptop" "^laptop,client,${CFP:0:12}\$" \
	"$(on_b cairn config trust list -f csv)"
check_fails "the same token a second time" \
	'Error: Remote "b2": The trust token is not valid (unknown, revoked or already used)' \
	as_user cairn remote add b2 "$TOKEN"

# ---- working on the remote ----
check "launch busybox b:c1" as_user cairn launch busybox b:c1
check_eq "the instance is on the second daemon" "c1" "$(on_b cairn list -f csv -c n)"
check_eq "and not on the first" "" "$(as_user cairn list -f csv -c n)"
check_match "list b: shows it running" '^c1,RUNNING' "$(as_user cairn list b: -f csv -c ns)"
check_match "info b:c1" '^Name: c1$' "$(as_user cairn info b:c1)"
check "config set b:c1" as_user cairn config set b:c1 user.where remote
check_eq "config get b:c1" remote "$(as_user cairn config get b:c1 user.where)"
check "snapshot create b:c1 s0" as_user cairn snapshot create b:c1 s0
check_match "the snapshot is there" '^s0,' "$(on_b cairn snapshot list c1 -f csv)"
check_fails "exec over HTTPS names the remote" \
	'Error: "cairn exec" does not work over HTTPS (remote "b"): it passes the terminal'"'"'s descriptors over cairnd'"'"'s unix socket, so run it on that host' \
	as_user cairn exec b:c1 -- true
check_fails "names on two remotes at once" "" as_user cairn stop b:c1 local:c1
check "stop b:c1" as_user cairn stop b:c1 --force
check "restore b:c1 s0" as_user cairn restore b:c1 s0
check "server config over HTTPS" as_user cairn config get b: core.https_address
check "remote switch b" as_user cairn remote switch b
check_eq "get-default" b "$(as_user cairn remote get-default)"
check_eq "a bare list goes to the default remote" c1 "$(as_user cairn list -f csv -c n)"
check "remote rename b bb" as_user cairn remote rename b bb
check_eq "the default follows the rename" bb "$(as_user cairn remote get-default)"
check_eq "list bb:" c1 "$(as_user cairn list bb: -f csv -c n)"
check "remote switch local" as_user cairn remote switch local
check "a unix remote" as_user cairn remote add a "unix://$CAIRN_DIR/unix.socket"
check_eq "list a: is the first daemon" "" "$(as_user cairn list a: -f csv -c n)"
check_fails "an unknown remote" 'Error: Remote "nosuch" doesn'"'"'t exist' as_user cairn list nosuch:
check_fails "a bad remote name" "" as_user cairn remote add 'x/y' "$ADDR"
check_fails "local is taken" 'Error: Remote "local" exists already' \
	as_user cairn remote add local "$ADDR"
check_fails "a bad address" "" as_user cairn remote add z 'http://127.0.0.1:1'
check_fails "a bad token" "" as_user cairn remote add z "$(printf '%080d' 0)"
check_fails "nothing listens there" "" as_user cairn remote add z "127.0.0.1:$(free_port)" \
	--accept-certificate

# ---- a token used too late ----
check "core.trust_token_expiry 1S" on_b cairn config set core.trust_token_expiry 1S
LATE=$(on_b cairn config trust add late | tail -1)
sleep 2
check_fails "an expired token (the client sees it)" 'Error: The trust token has expired' \
	as_user cairn remote add late "$LATE"
check_match "an expired token (the server refuses it)" 'has expired' \
	"$(curl -sk --cert "$T/other.crt" --key "$T/other.key" -X POST -d "{\"trust_token\":\"$LATE\"}" "https://$ADDR/1.0/certificates")"
check_eq "the other client stays untrusted" 403 \
	"$(curl -sk --cert "$T/other.crt" --key "$T/other.key" -o /dev/null -w '%{http_code}' "https://$ADDR/1.0/instances")"
check "revoke-token" sh -c "on_b() { env CAIRN_DIR='$B_DIR' \"\$@\"; }; on_b cairn config trust add gone >/dev/null && on_b cairn config trust revoke-token gone"
check_eq "no token left" "" "$(on_b cairn config trust list-tokens -f csv)"

# ---- a revoked certificate ----
check "trust remove" on_b cairn config trust remove "${CFP:0:12}"
check_fails "a revoked client is refused" \
	'Error: Remote "bb": Forbidden: this client'"'"'s certificate is not trusted by cairnd' \
	as_user cairn list bb:

# ---- a server whose certificate changed ----
stop_b
mv "$B_DIR/server.crt" "$T/old-server.crt"
mv "$B_DIR/server.key" "$T/old-server.key"
start_b
NEWFP=$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -r .metadata.environment.certificate_fingerprint)
check "the new certificate differs" test "$NEWFP" != "$FP"
check_eq "the listener comes back at start" untrusted "$(curl -sk "https://$ADDR/1.0" | jq -r .metadata.auth)"
check_fails "a changed certificate is refused with both fingerprints" \
	"Error: The certificate of remote \"bb\" (https://$ADDR) has changed: its fingerprint is $NEWFP, not $FP as stored. If this change is expected, remove the remote and add it again" \
	as_user cairn list bb:
check "remote remove bb" as_user cairn remote remove bb
check "the stored certificate is gone" test ! -e "$RHOME/.config/cairn/servercerts/bb.crt"

# ---- a server that is not cairnd ----
P2=$(free_port)
openssl s_server -accept "127.0.0.1:$P2" -cert "$T/other.crt" -key "$T/other.key" -www \
	>/dev/null 2>&1 &
SSERVER_PID=$!
for _ in $(seq 1 50); do
	curl -sk "https://127.0.0.1:$P2/" >/dev/null 2>&1 && break
	sleep 0.1
done
check_fails "a plain HTTPS server" "" as_user cairn remote add x "127.0.0.1:$P2" --accept-certificate
check_match "is called not cairnd" 'is not cairnd' \
	"$(as_user cairn remote add x "127.0.0.1:$P2" --accept-certificate 2>&1)"
kill "$SSERVER_PID" 2>/dev/null

# ---- the listener follows the config at once ----
check "unset core.https_address" on_b cairn config unset core.https_address
check "nothing listens any more" bash -c "! curl -sk --max-time 5 https://$ADDR/1.0"
check_eq "the unix socket still serves" trusted \
	"$(curl -s --unix-socket "$B_DIR/unix.socket" http://b/1.0 | jq -r .metadata.auth)"

on_b cairn delete c1 --force >/dev/null 2>&1
stop_b
finish
