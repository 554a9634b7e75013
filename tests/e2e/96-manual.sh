#!/usr/bin/env bash
# The manual's examples, run as the admin-group user against a real daemon: every ```console
# block of doc/manual/*.md (tests/e2e/manual.py says how they are read and compared). Each page
# starts from a daemon without instances.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || skip_all "python3 is not installed"
[ "$BACKEND" = btrfs ] || skip_all "the manual's examples show the default btrfs pool"
setup

here=$(cd "$(dirname "$0")" && pwd)
manual=$(cd "$here/../../doc/manual" && pwd)
chown "$ADMIN_USER" "$T/home"

# Removes what the previous page made: instances, imported images, pools and profiles but the
# default ones.
reset_daemon() {
	local name
	for name in $(cairn list --format csv -c n); do
		cairn delete --force "$name" >/dev/null 2>&1
	done
	for name in $(api /1.0/images | jq -r '.metadata[]' | sed 's|.*/||'); do
		api "/1.0/images/$name" | jq -e '.metadata.aliases[]? | select(.name == "busybox")' \
			>/dev/null || cairn image delete "$name" >/dev/null 2>&1
	done
	for name in $(cairn storage list --format csv | cut -d, -f1); do
		[ "$name" = default ] || cairn storage delete "$name" >/dev/null 2>&1
	done
	for name in $(cairn profile list --format csv | cut -d, -f1); do
		[ "$name" = default ] || cairn profile delete "$name" >/dev/null 2>&1
	done
}

# CAIRN_MANUAL_PAGES="exec.md client.md" runs only those pages.
for page in "$manual"/*.md; do
	grep -q '^```console$' "$page" || continue
	case " ${CAIRN_MANUAL_PAGES:-$(basename "$page")} " in
	*" $(basename "$page") "*) ;;
	*) continue ;;
	esac
	reset_daemon
	# A page may delete the busybox image: the daemon makes it again when it starts.
	if ! cairn image show busybox >/dev/null 2>&1; then
		stop_daemon
		start_daemon
	fi
	# CAIRN_MANUAL_UPDATE=1 writes what the examples print into the pages (to read over).
	mode=$(stat -c %a "$page")
	[ -n "${CAIRN_MANUAL_UPDATE:-}" ] && chmod o+w "$page"
	out=$(cd "$T/home" && as_admin python3 "$here/manual.py" ${CAIRN_MANUAL_UPDATE:+--update} "$page" 2>&1)
	rc=$?
	chmod "$mode" "$page"
	if [ $rc -eq 0 ]; then
		ok "doc/manual/$(basename "$page"): $(printf '%s\n' "$out" | tail -1 | sed 's/^# //')"
	else
		not_ok "doc/manual/$(basename "$page")"
		diag "$(printf '%s\n' "$out" | grep -v '^ok - ')"
	fi
done

finish
