# shellcheck shell=bash disable=SC2154,SC2034
# archive.bash: helpers shared by archive.bats and crash.bats: the load
# generator, DUMPs of many keys compared byte for byte, restores in batches,
# exports into a scratch redis, and tmpfs mounts that are always undone.
# Load it after helpers and flushing.

GCS_LOADGEN=$top_builddir/tools/gcs-loadgen

setup() {
	common_setup
	[[ -x $GCS_LOADGEN ]] || fail "gcs-loadgen not built in $top_builddir/tools"
	MOUNT_LIST=$TEST_DIR/mounts
	: >"$MOUNT_LIST"
}

# The processes go first (a daemon with a segment open keeps a tmpfs busy),
# then the mounts, whatever common_teardown said.
teardown() {
	local rc=0

	common_teardown || rc=$?
	tmpfs_cleanup || rc=1
	return "$rc"
}

# ---- tmpfs -------------------------------------------------------------------

# tmpfs_mount SIZE: mounts a tmpfs of SIZE on a new directory and prints it;
# returns 1 (with the reason on stderr) when mounting is not permitted.
tmpfs_mount() {
	local dir err

	dir=$(mktemp -d /tmp/gcsf-mnt.XXXXXX) || return 1
	if ! err=$(mount -t tmpfs -o "size=$1,mode=0755" tmpfs "$dir" 2>&1); then
		rmdir "$dir"
		echo "mount -t tmpfs: ${err:-failed} (uid $(id -u))" >&2
		return 1
	fi
	echo "$dir" >>"$MOUNT_LIST"
	echo "$dir"
}

# Unmounts every tmpfs of this test: plainly, then after a pause, then lazily.
tmpfs_cleanup() {
	local dir i rc=0

	[[ -f ${MOUNT_LIST:-} ]] || return 0
	while read -r dir; do
		[[ -n $dir ]] || continue
		for ((i = 0; i < 20; i++)); do
			mountpoint -q "$dir" || break
			umount "$dir" 2>/dev/null && break
			sleep 0.25
		done
		if mountpoint -q "$dir"; then
			echo "# $dir still busy: umount -l" >&2
			umount -l "$dir" || rc=1
		fi
		mountpoint -q "$dir" || rmdir "$dir" 2>/dev/null || true
	done <"$MOUNT_LIST"
	: >"$MOUNT_LIST"
	return "$rc"
}

# A hash with a field longer than hash-max-listpack-value (64) is a hash
# table, whose DUMP lists its fields in the order of the server's randomly
# seeded dict: the same hash DUMPs differently on two servers (on one server
# a DUMP, RESTORE and DUMP again give the same bytes).  Servers whose DUMPs
# are compared with another server's keep gcs-loadgen's hashes as listpacks,
# whose DUMPs are deterministic.
SAME_DUMP_ARGS=(--hash-max-listpack-value 4096)

# ---- workload ------------------------------------------------------------------

# loadgen NAME ARGS...: gcs-loadgen against the named redis, quiet.
loadgen() {
	local name=$1

	shift
	"$GCS_LOADGEN" -s "$(redis_sock "$name")" -q "$@"
}

# ---- DUMPs ---------------------------------------------------------------------

# dump_keys NAME KEYFILE OUT: for each key of KEYFILE, one line in OUT:
# KEY TAB HEX-OF-DUMP TAB PEXPIRETIME ("-" and -2 for a missing key).
dump_keys() {
	$PY - "$(redis_sock "$1")" "$2" "$3" <<-'EOF'
		import sys, redis
		r = redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=60)
		keys = [l.rstrip("\n") for l in open(sys.argv[2]) if l.strip()]
		with open(sys.argv[3], "w") as out:
		    for i in range(0, len(keys), 500):
		        part = keys[i:i + 500]
		        p = r.pipeline(transaction=False)
		        for k in part:
		            p.dump(k)
		            p.execute_command("PEXPIRETIME", k)
		        got = p.execute()
		        for j, k in enumerate(part):
		            d, t = got[2 * j], got[2 * j + 1]
		            out.write("%s\t%s\t%d\n" % (k, d.hex() if d is not None else "-", t))
	EOF
}

# canon_keys NAME KEYFILE OUT: like dump_keys, with the value as a canonical
# text in place of the DUMP (hash fields sorted), for values whose DUMPs may
# differ (hash tables).
canon_keys() {
	$PY - "$(redis_sock "$1")" "$2" "$3" <<-'EOF'
		import sys, redis
		r = redis.Redis(unix_socket_path=sys.argv[1], socket_timeout=60)
		def canon(k):
		    t = r.type(k).decode()
		    if t == "string":
		        v = r.get(k)
		    elif t == "hash":
		        v = sorted(r.hgetall(k).items())
		    elif t == "list":
		        v = r.lrange(k, 0, -1)
		    elif t == "set":
		        v = sorted(r.smembers(k))
		    elif t == "zset":
		        v = r.zrange(k, 0, -1, withscores=True)
		    elif t == "none":
		        return "-"
		    else:
		        v = r.dump(k)
		    return (t + ":" + repr(v)).encode().hex()
		with open(sys.argv[3], "w") as out:
		    for l in open(sys.argv[2]):
		        k = l.rstrip("\n")
		        if k:
		            out.write("%s\t%s\t%d\n" % (k, canon(k), r.execute_command("PEXPIRETIME", k)))
	EOF
}

# export_payloads SHARD OUT: the records `archive export` writes, parsed from
# its RESP: KEY TAB HEX-OF-PAYLOAD TAB ABSOLUTE-EXPIRY-MS (-1: none), the
# last record of a key winning, as with redis-cli --pipe.
export_payloads() {
	"$GCS_FLUSHCTL" -c "$CONF" archive export "$1" 2>/dev/null >"$2.resp" ||
		fail "archive export $1 failed"
	PYTHONPATH=$top_srcdir/tests $PY - "$2.resp" "$2" <<-'EOF'
		import sys, resp
		recs = {}
		for args in resp.commands(open(sys.argv[1], "rb").read()):
		    if args[0] == b"SELECT":
		        continue    # the db of the records that follow
		    assert args[0] == b"RESTORE" and args[4:] == [b"ABSTTL", b"REPLACE"], args[:1]
		    t = int(args[2])
		    recs[args[1].decode()] = (args[3].hex(), t if t > 0 else -1)
		with open(sys.argv[2], "w") as out:
		    for k in sorted(recs):
		        out.write("%s\t%s\t%d\n" % (k, recs[k][0], recs[k][1]))
	EOF
}

# dump_all NAME OUT: dump_keys of every key of the named redis.
dump_all() {
	redis_cli "$1" --scan | LC_ALL=C sort >"$2.keys"
	dump_keys "$1" "$2.keys" "$2"
}

# compare_dumps EXPECTED ACTUAL [TTL_SLACK_MS]: the same keys with the same
# DUMP payloads, and expiry times within TTL_SLACK_MS (default 3000) of each
# other (-1, no expiry, only with -1).  Prints a summary; fails with details.
compare_dumps() {
	local out

	out=$($PY - "$1" "$2" "${3:-3000}" <<-'EOF'
		import sys
		def load(p):
		    m = {}
		    for l in open(p):
		        k, d, t = l.rstrip("\n").split("\t")
		        m[k] = (d, int(t))
		    return m
		exp, act, slack = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
		bad = []
		ttls = 0
		for k, (d, t) in sorted(exp.items()):
		    if k not in act or act[k][0] == "-":
		        bad.append("%s: missing" % k)
		        continue
		    ad, at = act[k]
		    if ad != d:
		        bad.append("%s: DUMP differs (%d vs %d hex digits)" % (k, len(d), len(ad)))
		    if (t < 0) != (at < 0) or (t >= 0 and abs(at - t) > slack):
		        bad.append("%s: expiry %d, expected %d" % (k, at, t))
		    ttls += t >= 0
		extra = sorted(set(k for k, v in act.items() if v[0] != "-") - set(exp))
		bad += ["%s: unexpected" % k for k in extra]
		print("%d keys compared, %d with an expiry, %d problems" % (len(exp), ttls, len(bad)))
		for b in bad[:30]:
		    print("  " + b)
		sys.exit(1 if bad else 0)
	EOF
	) || fail "DUMPs differ: $out"
	echo "# $out" >&3
}

# ---- restore and export ----------------------------------------------------------

# restore_batches SHARD KEYFILE BATCH [--replace]: gcs-flushctl restore with
# BATCH keys on each command line; every key must be restored.
restore_batches() {
	local shard=$1 file=$2 n=$3 i out rc
	local -a keys=() part=()

	shift 3
	mapfile -t keys <"$file"
	for ((i = 0; i < ${#keys[@]}; i += n)); do
		part=("${keys[@]:i:n}")
		rc=0
		out=$("$GCS_FLUSHCTL" -c "$CONF" restore "$@" "$shard" "${part[@]}" 2>&1) || rc=$?
		((rc == 0)) || fail "restore of keys $i.. exited $rc: $(grep -v ': restored' <<<"$out" | head -n 10)"
		(($(grep -c ': restored the version flushed at ' <<<"$out") == ${#part[@]})) ||
			fail "restore of keys $i..: not one 'restored' line a key: $(head -n 10 <<<"$out")"
	done
}

# export_into SHARD NAME: `archive export SHARD | redis-cli --pipe` into the
# named (scratch) redis; prints the export's summary line.
export_into() {
	local err=$TEST_DIR/export.err out

	"$GCS_FLUSHCTL" -c "$CONF" archive export "$1" 2>"$err" >"$TEST_DIR/export.resp" ||
		fail "archive export failed: $(cat "$err")"
	out=$(redis_cli "$2" --pipe <"$TEST_DIR/export.resp" 2>&1) || fail "redis-cli --pipe: $out"
	grep -q 'errors: 0' <<<"$out" || fail "redis-cli --pipe reported errors: $out"
	cat "$err"
}

# ls_keys SHARD [PATTERN]: the keys `archive ls` lists (last column), sorted.
ls_keys() {
	"$GCS_FLUSHCTL" -c "$CONF" archive ls "$@" 2>/dev/null | tail -n +2 | awk '{ print $NF }' | LC_ALL=C sort
}

# archive_files SHARD: the segment files, one a line.
archive_files() {
	find "$(state_dir_of)/archive/$1" -maxdepth 1 -type f 2>/dev/null | sort
}

state_dir_of() {
	sed -n 's/^state_dir = //p' "$CONF"
}
