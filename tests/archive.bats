#!/usr/bin/env bats
# archive.bats: the archive end to end: what is flushed is archived and can
# be restored byte for byte with its expiry; BUSYKEY and --replace; expired
# entries; archive ls and export; a key changed between DUMP and delete;
# the connection killed mid-chunk; retention; a full disk; archive = no.

# shellcheck disable=SC2154,SC2034
load helpers
load flushing
load archive

# manual_shard [POLICY_LINE]...: one_shard_start, with automatic flushing
# off (forced flushes only).
manual_shard() {
	local l policy=()

	for l in "$@"; do
		policy+=(-p "$l")
	done
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' ${policy[@]+"${policy[@]}"}
}

restore() {
	"$GCS_FLUSHCTL" -c "$CONF" restore "$@"
}

# ---- restore byte for byte ------------------------------------------------------------

@test "flushed entries restore byte for byte, expiry included" {
	local r
	# Hashes as listpacks: a hash table's DUMP changes with a RESTORE (see
	# SAME_DUMP_ARGS); the next test covers hash tables.
	one_shard_start -p 'flush_when_at_least_bytes = 1TiB' "${SAME_DUMP_ARGS[@]}"
	# 1000 entries expiring in an hour, then 1000 with no expiry: strings,
	# hashes and lists.
	loadgen a --count 1000 --mix 60,30,10,0 --ttl 3600 --seed 11 >/dev/null
	loadgen a --count 1000 --start 1001 --mix 60,30,10,0 --seed 12 >/dev/null
	wait_for shard_is a tracked_entries 2000
	live_keys a >"$TEST_DIR/all"
	dump_keys a "$TEST_DIR/all" "$TEST_DIR/before"

	r=$(flush_req a 1500)
	assert_flush_reply "$r" true 1500 1500 0
	# The 1500 oldest: ids 1..1500.
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	grep -E ':000000(0[0-9]{3}|1[0-4][0-9]{2}|1500)$' "$TEST_DIR/all" >"$TEST_DIR/expected"
	assert_keys "flush a 1500" "$TEST_DIR/expected" "$TEST_DIR/gone"
	run status_field a archived_entries_total
	assert_output 1500
	run status_field a changed_total
	assert_output 0
	run status_field a archive_blocked
	assert_output false
	run status_field a archive_segments
	assert_output 1
	[[ $(status_field a archive_bytes) -gt 1500 ]] || fail "archive_bytes: $(status_field a archive_bytes)"
	[[ $(status_field a archive_oldest_unix) != null ]] || fail "archive_oldest_unix is null"

	# Restored in batches of 250 keys a command line, with the daemon
	# stopped: the client needs only the config and the archive.
	daemon_stop
	restore_batches a "$TEST_DIR/gone" 250
	run live_count a
	assert_output 2000
	dump_keys a "$TEST_DIR/all" "$TEST_DIR/after"
	compare_dumps "$TEST_DIR/before" "$TEST_DIR/after" 3000
	# About 1000 of them had an expiry an hour away, and still do.
	local ttl
	ttl=$(redis_cli a TTL "$(head -n 1 "$TEST_DIR/gone")")
	((ttl > 3500 && ttl <= 3600)) || fail "TTL after restore: $ttl"
}

@test "restore of a key that exists: BUSYKEY, the key is left alone; --replace overwrites it" {
	local r
	manual_shard
	rcmds a <<<$'HSET obj f1 v1 f2 v2\nSET other x'
	wait_for shard_is a tracked_entries 2
	printf 'obj\n' >"$TEST_DIR/k"
	dump_keys a "$TEST_DIR/k" "$TEST_DIR/orig"
	r=$(flush_req a 1)
	assert_flush_reply "$r" true 1 1 0
	run redis_cli a EXISTS obj
	assert_output 0

	# Written again meanwhile.
	rcmds a <<<'SET obj newer'
	run restore a obj
	assert_failure 1
	assert_output 'obj: exists in Redis; not replaced (use --replace to overwrite it)'
	run redis_cli a GET obj
	assert_output newer
	# Several keys: the ones that can be restored are; the status says
	# one could not.
	run restore a nothing-like-this obj
	assert_failure 1
	assert_line 'nothing-like-this: not in the archive'
	assert_line --partial 'obj: exists in Redis'

	run restore --replace a obj
	assert_success
	assert_output --regexp '^obj: restored the version flushed at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$'
	dump_keys a "$TEST_DIR/k" "$TEST_DIR/now"
	compare_dumps "$TEST_DIR/orig" "$TEST_DIR/now" 0
	run redis_cli a HGET obj f2
	assert_output v2
	# Unknown shard: an error, no restore.
	run restore nosuch obj
	assert_failure
	assert_output --partial 'nosuch'
	daemon_stop
}

@test "a key whose archived expiry has passed is not restored, and the message says so" {
	local r
	manual_shard
	rcmds a <<<$'SET short v PX 1500\nSET long v EX 3600'
	wait_for shard_is a tracked_entries 2
	r=$(flush_req a 2)
	assert_flush_reply "$r" true 2 2 0
	sleep 2
	run restore a short long
	assert_failure 1
	assert_line --regexp '^short: its expiry \([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z\) has passed; not restored$'
	assert_line --regexp '^long: restored the version flushed at .*, expiring at '
	run redis_cli a EXISTS short
	assert_output 0
	run redis_cli a TTL long
	((output > 3590 && output <= 3600)) || fail "TTL of long: $output"
	# The export includes it and says so: replayed, its past ABSTTL with
	# REPLACE removes the key, as the expiry would have.
	run --separate-stderr "$GCS_FLUSHCTL" -c "$CONF" archive export a
	assert_success
	[[ $stderr == *'exported 2 records; 1 of them expired (restoring one removes its key)'* ]] ||
		fail "export: $stderr"
	"$GCS_FLUSHCTL" -c "$CONF" archive export a | redis_cli a --pipe >/dev/null
	run redis_cli a EXISTS short
	assert_output 0
	daemon_stop
}

# ---- ls and export ---------------------------------------------------------------------

@test "archive ls lists flushed keys with times, PATTERN filters; export | redis-cli --pipe restores them" {
	local r n
	# Hashes as hash tables (gcs-loadgen's locations are longer than 64
	# bytes): the archived payloads are the DUMPs byte for byte; what
	# RESTORE makes of them is compared by value.
	manual_shard
	loadgen a --count 600 --mix 50,30,20,0 --seed 5 >/dev/null
	loadgen a --count 200 --start 601 --mix 50,30,20,0 --ttl 7200 --seed 6 >/dev/null
	wait_for shard_is a tracked_entries 800
	live_keys a >"$TEST_DIR/all"
	dump_keys a "$TEST_DIR/all" "$TEST_DIR/before"
	canon_keys a "$TEST_DIR/all" "$TEST_DIR/before.canon"
	r=$(flush_req a 700)
	assert_flush_reply "$r" true 700 700 0
	gone_since "$TEST_DIR/all" a >"$TEST_DIR/gone"
	run wc -l <"$TEST_DIR/gone"
	assert_output 700

	# ls: a header, one line a record with its flush time, size, expiry.
	run --separate-stderr "$GCS_FLUSHCTL" -c "$CONF" archive ls a
	assert_success
	[[ ${lines[0]} == *FLUSHED*KEY* ]] || fail "no header: ${lines[0]}"
	((${#lines[@]} == 701)) || fail "${#lines[@]} lines for 700 records"
	[[ $stderr == '700 records' ]] || fail "ls stderr: $stderr"
	n=$(printf '%s\n' "${lines[@]:1}" | grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z +[0-9]+ B +(no expiry|expires [0-9]{4}-[0-9-]+T[0-9:.]+Z) +[a-z]+:[0-9]{10}$')
	((n == 700)) || fail "only $n of 700 lines look right: $(printf '%s\n' "${lines[@]:1:3}")"
	n=$(printf '%s\n' "${lines[@]:1}" | grep -c ' expires ')
	((n == 100)) || fail "$n records with an expiry, not 100 (ids 601..700)"
	ls_keys a >"$TEST_DIR/listed"
	assert_keys "archive ls" "$TEST_DIR/gone" "$TEST_DIR/listed"
	# The flush time is now, give or take.
	local t
	t=$(sed -n 2p <<<"$output" | cut -c1-19)
	(($(date -u +%s) - $(date -u -d "$t" +%s) < 120)) || fail "flush time $t is not recent"

	# PATTERN.
	ls_keys a 'object:*' >"$TEST_DIR/listed"
	grep '^object:' "$TEST_DIR/gone" >"$TEST_DIR/expected"
	[[ -s $TEST_DIR/expected ]] || fail "test bug: no object flushed"
	assert_keys "archive ls a object:*" "$TEST_DIR/expected" "$TEST_DIR/listed"
	ls_keys a '*:000000000[1-9]' >"$TEST_DIR/listed"
	grep -E ':000000000[1-9]$' "$TEST_DIR/gone" >"$TEST_DIR/expected"
	assert_keys "archive ls a *:000000000[1-9]" "$TEST_DIR/expected" "$TEST_DIR/listed"
	run ls_keys a 'nothing:*'
	assert_output ''

	# Export into a fresh redis, with the daemon stopped.
	daemon_stop
	grep -F -f <(sed 's/$/\t/' "$TEST_DIR/gone") "$TEST_DIR/before" >"$TEST_DIR/expected"
	export_payloads a "$TEST_DIR/exported"
	compare_dumps "$TEST_DIR/expected" "$TEST_DIR/exported" 3000
	redis_start scratch
	run export_into a scratch
	assert_output 'exported 700 records'
	redis_cli scratch --scan | LC_ALL=C sort >"$TEST_DIR/scratch.keys"
	assert_keys "keys in the scratch redis" "$TEST_DIR/gone" "$TEST_DIR/scratch.keys"
	canon_keys scratch "$TEST_DIR/gone" "$TEST_DIR/restored"
	grep -F -f <(sed 's/$/\t/' "$TEST_DIR/gone") "$TEST_DIR/before.canon" >"$TEST_DIR/expected"
	compare_dumps "$TEST_DIR/expected" "$TEST_DIR/restored" 3000
}

# ---- changed between DUMP and delete --------------------------------------------------------

# proxy_start LISTEN UPSTREAM TRIGGER KEY VALUE: a UNIX-socket proxy to redis
# that, the first time the daemon sends TRIGGER (hex-encoded: what the
# compare-and-delete script gets for KEY, sent after the archive write: its
# DUMP payload when small, else the payload's SHA-1), first runs
# SET KEY VALUE on a connection of its own, then forwards the request.
proxy_start() {
	$PY - "$@" "$TEST_DIR/proxy.fired" >>"$TEST_DIR/proxy.log" 2>&1 <<-'EOF' &
		import os, socket, sys, threading
		listen, upstream, trig, key, val, flag = sys.argv[1:7]
		trig = bytes.fromhex(trig)
		fired = threading.Lock()
		state = {"done": False}
		def resp(*args):
		    out = b"*%d\r\n" % len(args)
		    for a in args:
		        out += b"$%d\r\n%s\r\n" % (len(a), a)
		    return out
		def inject():
		    s = socket.socket(socket.AF_UNIX)
		    s.connect(upstream)
		    s.sendall(resp(b"SET", key.encode(), val.encode()))
		    got = s.recv(100)
		    s.close()
		    with open(flag, "w") as f:
		        f.write(got.decode())
		def pump(src, dst, watch):
		    tail = b""
		    try:
		        while True:
		            data = src.recv(65536)
		            if not data:
		                break
		            if watch and not state["done"]:
		                if trig in tail + data:
		                    with fired:
		                        if not state["done"]:
		                            inject()
		                            state["done"] = True
		                tail = (tail + data)[-len(trig):]
		            dst.sendall(data)
		    except OSError:
		        pass
		    for s in (src, dst):
		        try:
		            s.shutdown(socket.SHUT_RDWR)
		        except OSError:
		            pass
		l = socket.socket(socket.AF_UNIX)
		l.bind(listen)
		l.listen(16)
		while True:
		    c, _ = l.accept()
		    u = socket.socket(socket.AF_UNIX)
		    u.connect(upstream)
		    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
		    threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
	EOF
	record_pid proxy $!
	wait_for -t 10 test -S "$1"
}

# changed_case ORIGINAL: k:2 holds ORIGINAL, and is rewritten between its
# DUMP and its compare-and-delete.
changed_case() {
	local r trig
	redis_start a
	rcmds a <<<"SET k:1 v1"$'\n'"SET k:2 $1"$'\n'"SET k:3 v3"
	trig=$($PY -c '
import hashlib, redis, sys
r = redis.Redis(unix_socket_path=sys.argv[1])
d = r.dump("k:2")
print((d if len(d) <= 256 else hashlib.sha1(d).hexdigest().encode()).hex(), len(d))' "$(redis_sock a)")
	echo "# k:2: trigger and DUMP length: ${trig:0:40}... ${trig##* }" >&3
	trig=${trig% *}
	proxy_start "$TEST_DIR/proxy.sock" "$(redis_sock a)" "$trig" k:2 changed
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	conf_shard a "unix:$TEST_DIR/proxy.sock"
	daemon_start
	shard_ready a
	wait_for shard_is a tracked_entries 3

	r=$(flush_req a 3)
	[[ $(jget "$r" "j['ok']") == true ]] || fail "flush: $r"
	[[ -f $TEST_DIR/proxy.fired ]] || fail "the proxy never saw the compare-and-delete of k:2: $(cat "$TEST_DIR/proxy.log")"
	run status_field a changed_total
	assert_output 1
	# k:1 and k:3 are gone; k:2 holds what was written after its DUMP.
	run live_keys a
	assert_output k:2
	run redis_cli a GET k:2
	assert_output changed
	run status_field a tracked_entries
	assert_output 1
	run ls_keys a
	assert_output $'k:1\nk:2\nk:3'

	# The next flush archives the new value and deletes it.
	r=$(flush_req a 1)
	assert_flush_reply "$r" true 1 1 0
	run live_count a
	assert_output 0
	run status_field a changed_total
	assert_output 1
	run status_field a archived_entries_total
	assert_output 4
	# The newest version wins.
	run restore a k:2
	assert_success
	run redis_cli a GET k:2
	assert_output changed
	daemon_stop
}

@test "a key changed between its DUMP and its delete stays in Redis and is archived again" {
	changed_case original	# a small payload: compared byte for byte
}

@test "a large value changed between its DUMP and its delete (compared by SHA-1) stays too" {
	changed_case "$($PY -c 'import os; print(os.urandom(600).hex())')"
}

# The command connection killed (CLIENT KILL) while its last command was a
# DUMP or a PTTL of a chunk, three times: the chunks in flight go back to the
# ledger, nothing is deleted that is not archived, and the flush finishes.
@test "the connection killed between a chunk's DUMPs and its delete: nothing lost, the flush finishes" {
	local ref=$TEST_DIR/ref.dump i js kills

	redis_start a "${SAME_DUMP_ARGS[@]}"
	conf_base "" 'flush_when_at_least_bytes = 1TiB' 'flush_server_budget = 5%'
	conf_shard a "unix:$(redis_sock a)"
	daemon_start
	shard_ready a
	put_keys a 1 6000
	put_keys a 6001 6500 'k:%04g' PX 600000
	wait_for shard_is a tracked_entries 6500
	dump_all a "$ref"
	$PY - "$(redis_sock a)" "$TEST_DIR/kills" >>"$TEST_DIR/killer.out" 2>&1 3>&- </dev/null <<-'EOF' &
		import redis, sys, time
		r = redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=5)
		kills, end = 0, time.monotonic() + 60
		while kills < 3 and time.monotonic() < end:
		    for c in r.client_list():
		        if c["cmd"] in ("dump", "pttl") and r.client_kill_filter(_id=c["id"]):
		            kills += 1
		            open(sys.argv[2], "a").write("kill %s after %s\n" % (c["id"], c["cmd"]))
		            time.sleep(0.3)
		            break
		    time.sleep(0.001)
	EOF
	record_pid killer $!
	for ((i = 0; i < 20; i++)); do
		wait_for -t 20 shard_ready a
		js=$(flush_req a 6500)
		echo "# flush: $js" >&3
		(($(live_count a) == 0)) && break
	done
	run live_count a
	assert_output 0
	kills=$(grep -c '^kill ' "$TEST_DIR/kills" 2>/dev/null || true)
	((kills >= 1)) || fail "no connection was killed mid-chunk: $(cat "$TEST_DIR/killer.out")"
	echo "# $kills kills: $(tr '\n' ' ' <"$TEST_DIR/kills")" >&3
	grep -q 'connection lost' "$DAEMON_LOG" || fail "the daemon saw no lost connection"
	# Every key is in the archive, byte for byte, with its expiry.
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	export_into a scratch
	dump_all scratch "$TEST_DIR/restored.dump"
	compare_dumps "$ref" "$TEST_DIR/restored.dump"
	daemon_stop
}

@test "chunks share their archive syncs: at most one every 2 ms, and every entry archived" {
	local r chunks secs syncs
	# Unpaced: 200-key chunks, sixteen in flight, each DUMPed in about 1 ms,
	# so a sync per chunk would exceed one per 2 ms.
	manual_shard 'flush_max_entries_per_sec = 0' 'flush_server_budget = off'
	put_keys a 1 20000
	wait_for shard_is a tracked_entries 20000
	r=$(flush_req a 20000)
	assert_flush_reply "$r" true 20000 20000 0
	chunks=$(jget "$r" "j['chunks']")
	secs=$(jget "$r" "j['seconds']")
	syncs=$(status_field a archive_syncs_total)
	echo "# $chunks chunks in ${secs}s, $syncs syncs" >&3
	((syncs >= 1 && syncs <= chunks)) || fail "$syncs syncs for $chunks chunks"
	# The 2 ms floor between syncs, with two syncs of slack.
	$PY -c 'import sys; s, n = float(sys.argv[1]), int(sys.argv[2]); sys.exit(n > s / 0.002 + 2)' "$secs" "$syncs" ||
		fail "$syncs syncs in ${secs}s: more than one per 2 ms"
	run status_field a archived_entries_total
	assert_output 20000
	run live_count a
	assert_output 0
	daemon_stop
}

@test "changed_total is 0 in a normal run; status shows the archive fields" {
	one_shard_start -p 'flush_when_at_least_bytes = 1' -p 'flush_num_entries_each_time = 50'
	run status_field a changed_total
	assert_output 0
	run status_field a archive_segments
	assert_output 0
	run status_field a archive_bytes
	assert_output 0
	run status_field a archive_oldest_unix
	assert_output null
	run status_field a archive_blocked
	assert_output false
	loadgen a --count 500 --type task --seed 3 >/dev/null
	wait_for -t 30 live_count_is a 0
	wait_for not_flushing a
	run status_field a archived_entries_total
	assert_output 500
	run status_field a flushed_entries_total
	assert_output 500
	run status_field a changed_total
	assert_output 0
	daemon_stop
}

# ---- retention --------------------------------------------------------------------------------

@test "retention: archive_max_bytes deletes whole oldest segments; the newest records remain" {
	local i r n seg bytes max=20000 maxseg=0 maxbytes=0 rec
	manual_shard 'archive_segment_bytes = 4096' "archive_max_bytes = $max"
	loadgen a --count 400 --type task --value-size 200 --seed 9 >/dev/null
	wait_for shard_is a tracked_entries 400
	live_keys a >"$TEST_DIR/all"
	# 40 flushes of 10: a commit of at most 10 records at a time.
	for ((i = 0; i < 40; i++)); do
		r=$(flush_req a 10)
		[[ $(jget "$r" "j['ok'] and j['flushed'] == 10") == true ]] || fail "flush a 10: $r"
		sleep 0.25 # a tick (0.2 s): retention runs
		read -r seg bytes < <(status_json |
			json_eval "'%d %d' % tuple(j['shards'][0][f] for f in ('archive_segments', 'archive_bytes'))")
		((seg > maxseg)) && maxseg=$seg
		((bytes > maxbytes)) && maxbytes=$bytes
	done
	run live_count a
	assert_output 0
	# A record: 16 + 30 + 1 + 15 + a DUMP of about 215 bytes.
	rec=$(($(status_field a archive_bytes) / $(ls_keys a | wc -l) + 1))
	echo "# at most $maxseg segments, $maxbytes bytes; about $rec bytes a record" >&3
	((maxbytes <= max + 4096 + 10 * rec)) ||
		fail "archive_bytes reached $maxbytes (max $max + a segment of 4096 + a commit of $((10 * rec)))"
	((maxseg <= max / 4096 + 2)) || fail "$maxseg segments"
	bytes=$(du -b --apparent-size -c "$(state_dir_of)"/archive/a/seg-*.gca | tail -n 1 | cut -f1)
	[[ $bytes == "$(status_field a archive_bytes)" ]] ||
		fail "segment files hold $bytes bytes, status says $(status_field a archive_bytes)"
	run archive_files a
	[[ ${#lines[@]} == "$(status_field a archive_segments)" ]] || fail "files: $output"
	# The newest records remain, the oldest are gone.
	ls_keys a >"$TEST_DIR/listed"
	n=$(wc -l <"$TEST_DIR/listed")
	# Retention leaves at most max bytes, less at most a segment and a commit.
	((n >= (max - 4096) / rec - 10 && n < 400)) || fail "$n records listed ($rec bytes a record)"
	tail -n "$n" "$TEST_DIR/all" >"$TEST_DIR/expected"
	assert_keys "records left after retention" "$TEST_DIR/expected" "$TEST_DIR/listed"
	run restore a "$(head -n 1 "$TEST_DIR/all")"
	assert_failure 1
	assert_output --partial 'not in the archive'
	run restore a "$(tail -n 1 "$TEST_DIR/all")"
	assert_success
	grep -q 'archive retention removed' "$DAEMON_LOG" || fail "no retention log line"
	daemon_stop
}

# ---- a full disk ----------------------------------------------------------------------------------

@test "a full disk: nothing is deleted, status says why; flushing resumes once there is room" {
	local mnt i r
	mnt=$(tmpfs_mount 300k) || skip "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)"
	EXPECT_LOG_ERRORS_RE='No space left on device'
	redis_start a
	conf_base "" 'flush_when_at_least_bytes = 1' 'flush_num_entries_each_time = 1000'
	conf_shard a "unix:$(redis_sock a)"
	sed -i "s|^state_dir = .*|state_dir = $mnt|" "$CONF"
	daemon_start
	shard_ready a
	run ctl pause a
	assert_success
	# 20 entries of 320 kB: not one DUMP fits in a 300 kB file system,
	# whatever the size of the chunks.
	loadgen a --count 20 --type task --value-size 320000 --seed 4 >/dev/null
	wait_for shard_is a tracked_entries 20
	live_keys a >"$TEST_DIR/all"
	dump_keys a "$TEST_DIR/all" "$TEST_DIR/before"
	run ctl resume a
	assert_success

	wait_for -t 20 shard_is a archive_blocked true
	run status_field a last_error
	assert_output --partial 'No space left on device'
	assert_output --partial 'nothing deleted'
	# Several periods: it tries again each time and never deletes.
	sleep 1.5
	run live_count a
	assert_output 20
	run status_field a flushed_entries_total
	assert_output 0
	run status_field a archived_entries_total
	assert_output 0
	run status_field a archive_blocked
	assert_output true
	grep -q 'No space left on device' "$DAEMON_LOG" || fail "the log does not say why"
	df -k "$mnt" | sed 's/^/# /' >&3

	# Room again: it resumes by itself.
	mount -o remount,size=20m "$mnt"
	wait_for -t 30 live_count_is a 0
	wait_for -t 10 shard_is a archive_blocked false
	run status_field a archived_entries_total
	assert_output 20
	run status_field a flushed_entries_total
	assert_output 20
	daemon_stop
	redis_start scratch
	run export_into a scratch
	assert_output 'exported 20 records'
	dump_all scratch "$TEST_DIR/restored"
	compare_dumps "$TEST_DIR/before" "$TEST_DIR/restored" 0
}

# ---- archive = no -------------------------------------------------------------------------------

@test "archive = no: flushed keys are deleted and nothing is archived" {
	local r
	manual_shard 'archive = no'
	loadgen a --count 300 --mix 60,30,10,0 --seed 2 >/dev/null
	wait_for shard_is a tracked_entries 300
	r=$(flush_req a 200)
	assert_flush_reply "$r" true 200 200 0
	run live_count a
	assert_output 100
	run status_field a archived_entries_total
	assert_output 0
	run status_field a archive_segments
	assert_output 0
	run status_field a archive_bytes
	assert_output 0
	run archive_files a
	assert_output ''
	run ls_keys a
	assert_output ''
	daemon_stop
}
