#!/usr/bin/env bats
# docs.bats: the man pages document every status field the daemon really
# sends and every control command it really accepts.  The field list comes
# from a live status reply, so a new field without documentation fails here.

load helpers

setup() {
	common_setup
	conf_base
	# A shard that never connects still reports every field.
	conf_shard nowhere "unix:$TEST_DIR/no-such.sock"
	daemon_start
}

teardown() {
	common_teardown
}

@test "gcs-flushd(8) documents every field of the status reply" {
	local fields f missing=

	fields=$(status_json | $PY -c '
import json, sys
j = json.load(sys.stdin)
names = set(j) | set(j["shards"][0]) - {"settings"}
print("\n".join(sorted(names)))
')
	[[ $(wc -l <<<"$fields") -ge 15 ]] || fail "too few fields: $fields"
	for f in $fields; do
		grep -q -- "$f" "$top_srcdir/man/gcs-flushd.8" || missing+=" $f"
	done
	[[ -z $missing ]] || fail "undocumented status fields:$missing"
}

@test "gcs-flushd(8) and gcs-flushctl(1) document every control command" {
	local cmds c missing=

	# The daemon lists its commands in the reply to an empty request.
	cmds=$(sock_send "$CTL_SOCK" 0a | sed -n 's/^REPLY //p' | $PY -c '
import json, re, sys
j = json.load(sys.stdin)
print(" ".join(re.search(r"commands: ([^)]*)", j["error"]).group(1).split(", ")))
')
	[[ -n $cmds ]] || fail "no command list in the reply"
	for c in $cmds; do
		grep -q -- "$c" "$top_srcdir/man/gcs-flushd.8" || missing+=" gcs-flushd.8:$c"
		grep -q -- "$c" "$top_srcdir/man/gcs-flushctl.1" || missing+=" gcs-flushctl.1:$c"
	done
	[[ -z $missing ]] || fail "undocumented commands:$missing"
}
