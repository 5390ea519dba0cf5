# flushing.bash: helpers shared by the suites that flush (flush.bats,
# tracking.bats, archive.bats, oddkeys.bats, crash.bats, faults.bats): one
# shard on its own redis, numbered keys, raw control requests, exact key-set
# comparisons.
# shellcheck shell=bash disable=SC2154,SC2034

setup() {
	common_setup
}

teardown() {
	common_teardown
}

# ctl_req LINE: sends one request line on the control socket and prints the
# reply line.  A forced flush replies when its cycle ends: allow for it.
ctl_req() {
	$PY - "$CTL_SOCK" "$1" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.settimeout(40)
		s.connect(sys.argv[1])
		s.sendall(sys.argv[2].encode() + b"\n")
		got = b""
		while True:
		    b = s.recv(65536)
		    if not b:
		        break
		    got += b
		print(got.decode("utf-8", "replace").rstrip("\n"))
	EOF
}

# flush_req SHARD [N]: a forced flush; prints the JSON reply.
flush_req() {
	ctl_req "flush $*"
}

# jget JSON EXPR: one value of a JSON document (see json_eval).
jget() {
	json_eval "$2" <<<"$1"
}

# put_keys SHARD FROM TO [FMT] [SET options]: SET FMT % i (default k:%04g)
# for i = FROM..TO, in that order, through one redis-cli.
put_keys() {
	local shard=$1 from=$2 to=$3 fmt=${4:-k:%04g} out

	shift 4 2>/dev/null || shift $#
	out=$(seq -f "SET $fmt v${*:+ $*}" "$from" "$to" | redis_cli "$shard" 2>&1) ||
		fail "redis-cli failed: $out"
	! grep -qE '^(ERR|WRONGTYPE|\(error\))' <<<"$out" || fail "redis said: $(grep -m3 ERR <<<"$out")"
}

# rcmds SHARD: runs the commands on stdin (one a line) in order.
rcmds() {
	local out

	out=$(redis_cli "$1" 2>&1) || fail "redis-cli failed: $out"
	! grep -qE '^(ERR|WRONGTYPE|\(error\))' <<<"$out" || fail "redis said: $(grep -m3 ERR <<<"$out")"
}

# live_keys SHARD [PATTERN]: the keys in redis, sorted.
live_keys() {
	redis_cli "$1" --scan --pattern "${2:-*}" | LC_ALL=C sort
}

live_count() {
	live_keys "$@" | wc -l
}

# assert_keys WHAT EXPECTED_FILE ACTUAL_FILE: the same sets of keys.
assert_keys() {
	local d

	d=$(diff <(LC_ALL=C sort -u "$2") <(LC_ALL=C sort -u "$3")) ||
		fail "$1: expected (<) and actual (>) differ:
$(head -n 40 <<<"$d")
($(grep -c '^<' <<<"$d") missing, $(grep -c '^>' <<<"$d") unexpected)"
}

# gone_since BEFORE_FILE SHARD [PATTERN]: keys of BEFORE no longer in redis.
gone_since() {
	comm -23 <(LC_ALL=C sort "$1") <(live_keys "$2" "${3:-*}")
}

# shard_ready SHARD: connected, with its reconciliation done.
shard_ready() {
	wait_for shard_is "$1" state connected
	wait_for -t 30 shard_is "$1" reconcile_state 'done'
}

# one_shard_start [-p POLICY_LINE]... [-s SHARD_LINE]... [REDIS_ARGS...]:
# redis a, a config of shard a on it (conf_base with the -p lines, then
# [shard:a] with the -s lines), the daemon, and shard_ready a.  Most suites
# begin their tests so; REDIS_ARGS come last, as redis_start takes them.
one_shard_start() {
	local policy=() shard=()

	while [[ ${1:-} == -[ps] ]]; do
		if [[ $1 == -p ]]; then
			policy+=("$2")
		else
			shard+=("$2")
		fi
		shift 2
	done
	redis_start a "$@"
	conf_base "" ${policy[@]+"${policy[@]}"}
	conf_shard a "unix:$(redis_sock a)" ${shard[@]+"${shard[@]}"}
	daemon_start
	shard_ready a
}

# field_at_least SHARD FIELD MIN: for wait_for.
field_at_least() {
	local v

	v=$(status_field "$1" "$2") || return 1
	if [[ ! $v =~ ^[0-9]+$ ]] || ((v < $3)); then
		echo "$1.$2 is $v, not >= $3"
		return 1
	fi
}

# live_count_is SHARD N [PATTERN]: for wait_for.
live_count_is() {
	local n

	n=$(live_count "$1" "${3:-*}")
	((n == $2)) || {
		echo "$n keys in $1, not $2"
		return 1
	}
}

live_count_below() {
	local n

	n=$(live_count "$1" "${3:-*}")
	((n < $2)) || {
		echo "$n keys in $1, not fewer than $2"
		return 1
	}
}

# assert_flush_reply JSON OK REQUESTED FLUSHED ALREADY_GONE
assert_flush_reply() {
	[[ $(jget "$1" "j['ok']") == "$2" ]] || fail "flush reply: ok is not $2: $1"
	[[ $(jget "$1" "j['requested']") == "$3" ]] || fail "flush reply: requested is not $3: $1"
	[[ $(jget "$1" "j['flushed']") == "$4" ]] || fail "flush reply: flushed is not $4: $1"
	[[ $(jget "$1" "j['already_gone']") == "$5" ]] || fail "flush reply: already_gone is not $5: $1"
	[[ $(jget "$1" "j['chunks']") =~ ^[0-9]+$ ]] || fail "flush reply: chunks missing: $1"
	[[ $(jget "$1" "j['seconds']") =~ ^[0-9.e-]+$ ]] || fail "flush reply: seconds missing: $1"
}

# not_flushing SHARD: for wait_for.
not_flushing() {
	shard_is "$1" flushing false
}

# seq_keys FROM TO [FMT]: the key names, one a line.
seq_keys() {
	seq -f "${3:-k:%04g}" "$1" "$2"
}

# setting_is SHARD KEY VALUE SOURCE: status settings.KEY, for wait_for.
setting_is() {
	local js v s

	js=$(status_json) || return 1
	v=$(json_eval "[s for s in j['shards'] if s['name'] == '$1'][0]['settings']['$2']['value']" <<<"$js")
	s=$(json_eval "[s for s in j['shards'] if s['name'] == '$1'][0]['settings']['$2']['source']" <<<"$js")
	[[ $v == "$3" && $s == "$4" ]] || {
		echo "$1 settings.$2 is $v ($s), not $3 ($4)"
		return 1
	}
}
