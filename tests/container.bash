# shellcheck shell=bash
# container.bash: a throwaway Debian 12 with a real systemd as PID 1, for
# tests/systemd.bats (see ../shared/DESIGN.md section 11).
#
# The container is this machine's own root file system under an overlay
# whose upper directory is a tmpfs of the test's: nothing is downloaded,
# nothing the container writes reaches the host, and powering it off and
# booting it again on the same upper directory is a reboot.  Units that
# would start the host's servers are masked.  --private-network gives it
# its own loopback, so its Redis cannot meet any other.
#
#   ct_init DIR      mounts the tmpfs and the overlay under DIR; call it
#                    from setup_file, whose process outlives every test
#   ct_boot          boots it; sets CT_PID (nspawn) and CT_INIT (its PID 1)
#   ct CMD...        runs CMD inside (every namespace of the container)
#   ct_poweroff      powers it off and waits for nspawn to exit
#   ct_fini          stops whatever is left and unmounts
#   ct_unavailable   why a container cannot boot here; empty when it can

CT_MASK=(redis-server redis postgresql nginx memcached prometheus prometheus-node-exporter)

ct_unavailable() {
	((EUID == 0)) || {
		echo "needs root"
		return
	}
	command -v systemd-nspawn >/dev/null || {
		echo "systemd-nspawn is missing (package systemd-container; script/bootstrap installs it)"
		return
	}
	[[ -x /lib/systemd/systemd ]] || {
		echo "systemd is not installed"
		return
	}
	local probe
	probe=$(mktemp -d)
	if ! mount -t tmpfs -o size=1m ct-probe "$probe" 2>/dev/null; then
		rmdir "$probe"
		echo "cannot mount a tmpfs (no CAP_SYS_ADMIN)"
		return
	fi
	umount "$probe"
	rmdir "$probe"
}

ct_init() {
	CT_DIR=$1
	# Each bats test is a process of its own: the guard of a container
	# booted by a test must watch the suite's process, this one.
	CT_OWNER=$$
	export CT_OWNER
	mkdir -p "$CT_DIR/fs" "$CT_DIR/root"
	mount -t tmpfs -o size=512m,mode=0755 ct-upper "$CT_DIR/fs"
	mkdir -p "$CT_DIR/fs/upper" "$CT_DIR/fs/work"
	mount -t overlay ct-root \
		-o "lowerdir=/,upperdir=$CT_DIR/fs/upper,workdir=$CT_DIR/fs/work" "$CT_DIR/root"
	# A new machine: systemd makes up its own id at the first boot.
	: >"$CT_DIR/root/etc/machine-id"
	# A Docker-style policy-rc.d would keep dpkg from starting services.
	rm -f "$CT_DIR/root/usr/sbin/policy-rc.d"
	local u
	for u in "${CT_MASK[@]}"; do
		ln -sf /dev/null "$CT_DIR/root/etc/systemd/system/$u.service"
	done
}

# Is PID alive (and not a zombie waiting for a parent that is not us)?
ct_alive() {
	local state

	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $state && $state != Z ]]
}

ct_boot() {
	local i

	systemd-nspawn -D "$CT_DIR/root" --register=no --keep-unit --private-network \
		--console=pipe -b </dev/null >>"$CT_DIR/console.log" 2>&1 3>&- &
	CT_PID=$!
	echo "$CT_PID" >"$CT_DIR/nspawn.pid"
	CT_INIT=
	for ((i = 0; i < 200; i++)); do
		CT_INIT=$(pgrep -P "$CT_PID" -x systemd || true)
		[[ -n $CT_INIT ]] && break
		ct_alive "$CT_PID" || break
		sleep 0.05
	done
	[[ -n $CT_INIT ]] || {
		echo "# the container did not start; its console:" >&2
		sed 's/^/#   /' "$CT_DIR/console.log" >&2
		return 1
	}
	echo "$CT_INIT" >"$CT_DIR/init.pid"
	ct_guard "${CT_OWNER:-$$}"
	# systemctl answers once PID 1 has its private socket; "degraded" is
	# booted too (a unit that wants real hardware may fail).
	local state=
	for ((i = 0; i < 600; i++)); do
		state=$(nsenter -t "$CT_INIT" -a systemctl is-system-running 2>/dev/null || true)
		[[ $state == running || $state == degraded ]] && return 0
		ct_alive "$CT_INIT" || break
		sleep 0.1
	done
	echo "# the container's systemd is '$state' after 60 s; its console:" >&2
	sed 's/^/#   /' "$CT_DIR/console.log" | tail -n 20 >&2
	return 1
}

# ct_guard PID: stops the container and unmounts it once PID (the bats
# process of the suite) is gone without doing so itself: a test timeout in
# bats 1.8 ends the whole file, teardown_file included.  Checks once a
# second, for at most two hours.
ct_guard() {
	local owner=$1 init=$CT_INIT dir=$CT_DIR

	(
		for ((i = 0; i < 7200; i++)); do
			ct_alive "$init" || exit 0
			kill -0 "$owner" 2>/dev/null || break
			sleep 1
		done
		kill -KILL "$init" 2>/dev/null
		sleep 1
		umount -l "$dir/root" "$dir/fs" 2>/dev/null
	) </dev/null >/dev/null 2>&1 3>&- &
}

# The PIDs survive from one test to the next through files: each bats test
# runs in its own process.
ct_pids() {
	CT_PID=$(cat "$CT_DIR/nspawn.pid" 2>/dev/null || true)
	CT_INIT=$(cat "$CT_DIR/init.pid" 2>/dev/null || true)
}

ct() {
	[[ -n ${CT_INIT:-} ]] || ct_pids
	nsenter -t "$CT_INIT" -a "$@"
}

ct_poweroff() {
	local i

	ct_pids
	[[ -n $CT_PID ]] || return 0
	ct systemctl poweroff >/dev/null 2>&1 || true
	for ((i = 0; i < 600; i++)); do
		ct_alive "$CT_PID" || break
		sleep 0.05
	done
	if ct_alive "$CT_PID"; then
		echo "# the container did not power off in 30 s; killing it" >&2
		kill -KILL "$CT_INIT" "$CT_PID" 2>/dev/null || true
		sleep 1
	fi
	rm -f "$CT_DIR/nspawn.pid" "$CT_DIR/init.pid"
	CT_PID='' CT_INIT=''
}

ct_fini() {
	[[ -n ${CT_DIR:-} && -d $CT_DIR ]] || return 0
	ct_poweroff
	umount "$CT_DIR/root" 2>/dev/null || umount -l "$CT_DIR/root" 2>/dev/null || true
	umount "$CT_DIR/fs" 2>/dev/null || umount -l "$CT_DIR/fs" 2>/dev/null || true
}
