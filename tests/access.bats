#!/usr/bin/env bats
# access.bats: who may do what on the control socket.  status stays open to
# whoever can connect; flush, pause, resume and reload follow control_admin,
# judged by the peer's credentials (SO_PEERCRED), not by what it claims.

load helpers

setup() {
	common_setup
	command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
	((EUID == 0)) || skip "needs root to act as another user"
	# Other users must reach the socket: bats's own directories are private.
	SOCK_DIR=$(mktemp -d /tmp/gcsf-access.XXXXXX)
	chmod 755 "$SOCK_DIR"
	CTL_SOCK=$SOCK_DIR/ctl.sock
}

teardown() {
	common_teardown
	if [[ -n ${SOCK_DIR:-} ]]; then
		rm -rf "$SOCK_DIR"
	fi
}

# as UID GID [SUPPLEMENTARY] -- ARGS: gcs-flushctl as that user.
as() {
	local uid=$1 gid=$2 groups=$3

	shift 4
	if [[ -n $groups ]]; then
		setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$GCS_FLUSHCTL" -s "$CTL_SOCK" "$@"
	else
		setpriv --reuid="$uid" --regid="$gid" --clear-groups "$GCS_FLUSHCTL" -s "$CTL_SOCK" "$@"
	fi
}

# start_with ADMIN [GROUP]: a daemon whose socket anyone can open.
start_with() {
	conf_base
	sed -i "/^\[daemon\]/a control_socket_mode = 0666\ncontrol_admin = $1${2:+\ncontrol_socket_group = $2}" "$CONF"
	daemon_start
}

@test "control_admin = group: others may read status but not pause, flush or reload" {
	start_with group
	run as 65534 65534 "" -- status
	assert_success
	for cmd in pause resume reload "flush none"; do
		# shellcheck disable=SC2086
		run as 65534 65534 "" -- $cmd
		assert_failure 1
		assert_output --partial "permission denied: '${cmd%% *}' needs root or the control socket's group"
		assert_output --partial "you are uid 65534"
	done
	run grep -c "refused 'pause' from uid 65534" "$DAEMON_LOG"
	assert_output 1
	# Looking is reading: oldest and flush --dry-run are open like status
	# (the shard is unknown, so the request got past the permission check).
	for cmd in "oldest none" "flush --dry-run none"; do
		# shellcheck disable=SC2086
		run as 65534 65534 "" -- $cmd
		assert_failure 1
		assert_output --partial "no shard named 'none'"
	done
	daemon_stop
}

@test "control_admin = group: the socket's group, primary or supplementary, may" {
	start_with group nogroup
	run stat -c %G "$CTL_SOCK"
	assert_output nogroup
	run as 65534 65534 "" -- pause
	assert_success
	run as 1 1 65534 -- resume
	assert_success
	run as 1 1 "" -- pause
	assert_failure 1
	daemon_stop
}

@test "control_admin = root refuses the group; anyone allows everyone" {
	start_with root nogroup
	run as 65534 65534 "" -- pause
	assert_failure 1
	assert_output --partial "needs root (control_admin = root"
	run "$GCS_FLUSHCTL" -s "$CTL_SOCK" pause
	assert_success
	daemon_stop

	start_with anyone
	run as 65534 65534 "" -- pause
	assert_success
	daemon_stop
}

@test "an unknown control_socket_group or control_admin value is refused" {
	conf_base
	sed -i "/^\[daemon\]/a control_admin = everybody" "$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_failure 1
	assert_output --regexp ":[0-9]+: control_admin: 'everybody': expected root, group or anyone"
	conf_base
	sed -i "/^\[daemon\]/a control_socket_group = no-such-group-here" "$CONF"
	run "$GCS_FLUSHD" -c "$CONF"
	assert_failure 1
	assert_output --partial "control_socket_group: no group named 'no-such-group-here'"
}
