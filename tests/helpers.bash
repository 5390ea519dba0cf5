# shellcheck shell=bash disable=SC2001,SC2154
# (SC2154: bats sets output, lines and stderr.)
# helpers.bash: shared set-up for the gcs-flushd bats suites.
#
# Every test gets its own directory, its own redis-server(s) on UNIX sockets
# (or a free TCP port on 127.0.0.1, never 6379) and its own daemon.  Every
# process a test starts is recorded by PID and killed by PID in teardown;
# every wait is bounded in count and in time.
#
# Run by hand from the source tree:
#   top_srcdir=. top_builddir=/path/to/build bats tests/control.bats
# `make check` exports both (Makefile.am, AM_TESTS_ENVIRONMENT).

bats_require_minimum_version 1.5.0	# run --separate-stderr
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

# A hung test fails instead of hanging make check.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-60}

top_srcdir=${top_srcdir:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
top_builddir=${top_builddir:-.}
top_builddir=$(cd "$top_builddir" && pwd)
export top_srcdir top_builddir

PY=/usr/bin/python3
# The helpers import tests/resp.py from the source tree: leave no
# __pycache__ there.
export PYTHONDONTWRITEBYTECODE=1
GCS_FLUSHD=$top_builddir/gcs-flushd
GCS_FLUSHCTL=$top_builddir/gcs-flushctl

# ---- set-up and teardown -----------------------------------------------------

# Each suite calls these from its own setup() and teardown().
common_setup() {
	[[ -x $GCS_FLUSHD && -x $GCS_FLUSHCTL ]] ||
		fail "gcs-flushd or gcs-flushctl not built in $top_builddir (set top_builddir)"
	# sun_path holds 108 bytes: keep our socket paths short even when
	# TMPDIR is long.
	TEST_DIR=$BATS_TEST_TMPDIR
	OWN_TEST_DIR=
	if ((${#TEST_DIR} > 60)); then
		TEST_DIR=$(mktemp -d /tmp/gcsf-test.XXXXXX)
		OWN_TEST_DIR=1
	fi
	PID_DIR=$TEST_DIR/pids
	mkdir -p "$PID_DIR" "$TEST_DIR/state"
	CTL_SOCK=$TEST_DIR/ctl.sock
	CONF=$TEST_DIR/gcs-flushd.conf
	DAEMON_LOG=$TEST_DIR/daemon.log
	DAEMON_PID=
	EXPECT_LOG_ERRORS=
	EXPECT_LOG_ERRORS_RE=
	DAEMON_WRAP=()
	# The environment of the person or CI running us must not steer the
	# daemon or the client.
	unset GCS_FLUSHD_SOCKET NOTIFY_SOCKET JOURNAL_STREAM WATCHDOG_USEC WATCHDOG_PID
	export TEST_DIR CTL_SOCK CONF
}

common_teardown() {
	local rc=0 f pid

	[[ -n ${PID_DIR:-} ]] || return 0	# common_setup failed early
	# Resume anything a test SIGSTOPped, or it would never see the SIGTERM.
	for f in "$PID_DIR"/*.pid; do
		[[ -f $f ]] || continue
		pid=$(<"$f")
		[[ -z $pid ]] || kill -CONT "$pid" 2>/dev/null || true
	done
	for f in "$PID_DIR"/*.pid; do
		[[ -f $f ]] || continue
		pid=$(<"$f")
		[[ -z $pid ]] || stop_pid "$pid" TERM 10
		rm -f "$f"
	done
	if [[ -f $DAEMON_LOG ]]; then
		check_daemon_log || rc=1
	fi
	if [[ -n ${OWN_TEST_DIR:-} && $rc -eq 0 ]]; then
		rm -rf "$TEST_DIR"
	fi
	return "$rc"
}

# Fails when the daemon log has error lines no test asked for, and always
# on sanitizer reports.
check_daemon_log() {
	local bad f

	for f in "$TEST_DIR"/valgrind.*.log; do
		if [[ -s $f ]]; then
			echo "# valgrind report in $f:" >&2
			sed 's/^/#   /' "$f" >&2
			return 1
		fi
	done

	bad=$(grep -E 'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer' "$DAEMON_LOG" || true)
	if [[ -n $bad ]]; then
		echo "# sanitizer report in $DAEMON_LOG:" >&2
		sed 's/^/#   /' "$DAEMON_LOG" >&2
		return 1
	fi
	# One message, one line: a continuation line would lose its level (and
	# its priority prefix under journald).
	bad=$(grep -vE '^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} (error|warning|notice|info|debug): |<[3-7]>)' "$DAEMON_LOG" || true)
	if [[ -n $bad ]]; then
		echo "# lines without a timestamp and level in $DAEMON_LOG:" >&2
		sed 's/^/#   /' <<<"$bad" >&2
		return 1
	fi
	[[ -n ${EXPECT_LOG_ERRORS:-} ]] && return 0
	bad=$(grep -E '^([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ error: |<[0-3]>)' "$DAEMON_LOG" || true)
	if [[ -n ${EXPECT_LOG_ERRORS_RE:-} && -n $bad ]]; then
		bad=$(grep -Ev -- "$EXPECT_LOG_ERRORS_RE" <<<"$bad" || true)
	fi
	if [[ -n $bad ]]; then
		echo "# unexpected error lines in $DAEMON_LOG:" >&2
		sed 's/^/#   /' <<<"$bad" >&2
		return 1
	fi
	return 0
}

# ---- processes ---------------------------------------------------------------

# record_pid NAME PID
record_pid() {
	echo "$2" >"$PID_DIR/$1.pid"
}

pid_of() {
	cat "$PID_DIR/$1.pid" 2>/dev/null
}

# Waits up to SECS for PID to be gone.
wait_gone() {
	local pid=$1 secs=${2:-10} i n

	n=$(awk -v s="$secs" 'BEGIN { print int(s * 20) }')
	for ((i = 0; i < n; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	! kill -0 "$pid" 2>/dev/null
}

# stop_pid PID SIGNAL SECS: signals PID, waits up to SECS, then SIGKILLs.
# Sets STOP_STATUS to the exit status when PID is our child (else 127).
# Not to be called in $(...): a subshell cannot wait for our children.
stop_pid() {
	local pid=$1 sig=${2:-TERM} secs=${3:-10}

	kill -"$sig" "$pid" 2>/dev/null || true
	if ! wait_gone "$pid" "$secs"; then
		echo "# pid $pid ignored SIG$sig for ${secs}s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		wait_gone "$pid" 5 || true
	fi
	STOP_STATUS=0
	wait "$pid" 2>/dev/null || STOP_STATUS=$?
}

# ---- waiting -------------------------------------------------------------------

# now_us: microseconds since the epoch.
now_us() {
	local t=${EPOCHREALTIME/./}

	echo "${t#0}"
}

# wait_for [-t SECS] CMD...: runs CMD every 0.1 s until it succeeds, for at
# most SECS (default 20) and at most SECS * 10 tries.
wait_for() {
	local secs=20 i n out='' end

	if [[ $1 == -t ]]; then
		secs=$2
		shift 2
	fi
	n=$(awk -v s="$secs" 'BEGIN { print int(s * 10) }')
	end=$(($(now_us) + n * 100000))
	for ((i = 0; i < n; i++)); do
		if out=$("$@" 2>&1); then
			return 0
		fi
		(($(now_us) < end)) || break
		sleep 0.1
	done
	echo "# wait_for: '$*' still failing after ${secs}s; last output:" >&2
	sed 's/^/#   /' <<<"$out" >&2
	return 1
}

# ---- redis -----------------------------------------------------------------------

redis_sock() {
	echo "$TEST_DIR/$1.sock"
}

# redis_cli NAME ARGS...: talks to the named redis, on its socket or port.
redis_cli() {
	local name=$1

	shift
	if [[ -f $TEST_DIR/$name.port ]]; then
		redis-cli -h "$(<"$TEST_DIR/$name.host")" -p "$(<"$TEST_DIR/$name.port")" "$@"
	else
		redis-cli -s "$(redis_sock "$name")" "$@"
	fi
}

# Answers PONG, or NOAUTH when it wants a password: either way it is up.
redis_ready() {
	local out

	out=$(redis_cli "$1" ping 2>&1) || true
	[[ $out == *PONG* || $out == *NOAUTH* ]]
}

# redis_spawn NAME ARGS...: starts redis-server in the background and waits.
# ARGS come last, so that a test may turn persistence on (--appendonly yes).
redis_spawn() {
	local name=$1 pid

	shift
	redis-server --save '' --appendonly no --daemonize no \
		--dir "$TEST_DIR" --dbfilename "$name.rdb" "$@" \
		>>"$TEST_DIR/$name.log" 2>&1 3>&- </dev/null &
	pid=$!
	record_pid "redis-$name" "$pid"
	wait_for -t 10 redis_ready "$name" ||
		fail "redis $name did not come up: $(tail -n 20 "$TEST_DIR/$name.log")"
}

# redis_start NAME [extra redis-server args]: redis on a UNIX socket only.
redis_start() {
	local name=$1

	shift
	rm -f "$TEST_DIR/$name.port"
	redis_spawn "$name" --port 0 --unixsocket "$(redis_sock "$name")" \
		--unixsocketperm 700 "$@"
}

free_port() {
	$PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# redis_start_tcp [-6] NAME [extra args]: redis on 127.0.0.1 (with -6: ::1)
# at a free port (in $TEST_DIR/NAME.port).  Keeps its port across a restart.
redis_start_tcp() {
	local host=127.0.0.1 name port

	if [[ $1 == -6 ]]; then
		host=::1
		shift
	fi
	name=$1
	shift
	echo "$host" >"$TEST_DIR/$name.host"
	if [[ -f $TEST_DIR/$name.port ]]; then
		port=$(<"$TEST_DIR/$name.port")
	else
		port=$(free_port)
		[[ $port != 6379 ]] || port=$(free_port)
		echo "$port" >"$TEST_DIR/$name.port"
	fi
	redis_spawn "$name" --port "$port" --bind "$host" "$@"
}

redis_port() {
	cat "$TEST_DIR/$1.port"
}

redis_stop() {
	local pid

	pid=$(pid_of "redis-$1")
	[[ -n $pid ]] || return 0
	kill -CONT "$pid" 2>/dev/null || true
	stop_pid "$pid" TERM 10
	rm -f "$PID_DIR/redis-$1.pid"
}

redis_pause() {
	kill -STOP "$(pid_of "redis-$1")"
}

redis_resume() {
	kill -CONT "$(pid_of "redis-$1")"
}

# ---- configuration ------------------------------------------------------------

# conf_base [FILE] [extra [policy] lines...]: writes [daemon] and [policy]
# with small timeouts so that tests are quick.
conf_base() {
	local file=${1:-$CONF}

	shift || true
	{
		cat <<-EOF
			[daemon]
			control_socket = $CTL_SOCK
			state_dir = $TEST_DIR/state
			log_level = info

			[policy]
			connect_timeout_secs = 1
			command_timeout_secs = 1
			reconnect_max_secs = 1
			flush_period_secs = 0.2
		EOF
		local l
		for l in "$@"; do
			echo "$l"
		done
	} >"$file"
}

# conf_shard [-f FILE] NAME ADDRESS [key = value lines...]
conf_shard() {
	local file=$CONF l

	if [[ $1 == -f ]]; then
		file=$2
		shift 2
	fi
	{
		echo
		echo "[shard:$1]"
		echo "address = $2"
		shift 2
		for l in "$@"; do
			echo "$l"
		done
	} >>"$file"
}

# ---- the daemon ------------------------------------------------------------------

ctl_answers() {
	"$GCS_FLUSHCTL" -s "$CTL_SOCK" --json status >/dev/null 2>&1
}

# daemon_start [CONF]: starts gcs-flushd in the background and waits until
# its control socket answers status.
daemon_start() {
	local conf=${1:-$CONF} i wrap=()

	# DAEMON_WRAP (an array a test may set): a command line the daemon runs
	# under, which must exec it (so that DAEMON_PID is the daemon's).
	wrap=(${DAEMON_WRAP[@]+"${DAEMON_WRAP[@]}"})
	# GCS_TEST_VALGRIND=1: run the daemon under memcheck; any error or leak
	# fails the test (check_daemon_log), and so does its exit status.
	if [[ ${GCS_TEST_VALGRIND:-} == 1 ]]; then
		wrap+=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99
			--log-file="$TEST_DIR/valgrind.%p.log")
	fi
	"${wrap[@]}" "$GCS_FLUSHD" -c "$conf" >>"$TEST_DIR/daemon.out" 2>>"$DAEMON_LOG" 3>&- </dev/null &
	DAEMON_PID=$!
	record_pid daemon "$DAEMON_PID"
	for ((i = 0; i < 600; i++)); do
		ctl_answers && return 0
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			fail "gcs-flushd exited at start: $(cat "$DAEMON_LOG")"
		fi
		sleep 0.05
	done
	fail "gcs-flushd did not answer on $CTL_SOCK within 30 s: $(cat "$DAEMON_LOG")"
}

# daemon_stop: SIGTERM, bounded wait, asserts exit status 0.
daemon_stop() {
	[[ -n $DAEMON_PID ]] || fail "daemon_stop: no daemon started"
	stop_pid "$DAEMON_PID" TERM 10
	rm -f "$PID_DIR/daemon.pid"
	DAEMON_PID=
	[[ $STOP_STATUS == 0 ]] ||
		fail "gcs-flushd exited with status $STOP_STATUS after SIGTERM: $(cat "$DAEMON_LOG")"
}

daemon_alive() {
	[[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null
}

ctl() {
	"$GCS_FLUSHCTL" -s "$CTL_SOCK" "$@"
}

# ---- JSON, without jq -------------------------------------------------------------

# json_eval EXPR: reads JSON on stdin, binds it to j and prints EXPR:
# strings as they are, everything else as JSON (null, true, 3, [...]).
json_eval() {
	$PY -c '
import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1], {"j": j})
print(v if isinstance(v, str) else json.dumps(v))
' "$1"
}

status_json() {
	ctl --json status
}

# status_field SHARD FIELD: one field of that shard in the status reply.
status_field() {
	local js

	js=$(status_json) || return 1
	json_eval "[s for s in j['shards'] if s['name'] == '$1'][0]['$2']" <<<"$js"
}

# shard_names: the shard names of the status reply, space-separated.
shard_names() {
	status_json | json_eval "' '.join(sorted(s['name'] for s in j['shards']))"
}

# shard_is SHARD FIELD VALUE: for wait_for.
shard_is() {
	local v

	v=$(status_field "$1" "$2") || return 1
	[[ $v == "$3" ]] || {
		echo "$1.$2 is '$v', not '$3'"
		return 1
	}
}

# error_has SHARD ERE: the shard's last_error matches; for wait_for.
error_has() {
	local v

	v=$(status_field "$1" last_error) || return 1
	grep -Eq -- "$2" <<<"$v" || {
		echo "$1.last_error is '$v', not /$2/"
		return 1
	}
}

# log_has TEXT: the daemon's log holds TEXT (a fixed string).
log_has() {
	grep -qF -- "$1" "$DAEMON_LOG"
}

# shard_state_in SHARD STATE...: the shard is in one of these states.
shard_state_in() {
	local v s

	v=$(status_field "$1" state) || return 1
	shift
	for s in "$@"; do
		[[ $v == "$s" ]] && return 0
	done
	echo "state is '$v', not one of: $*"
	return 1
}

# ---- the control socket, raw --------------------------------------------------------

# sock_send SOCKET HEX [SECS]: connects, sends the bytes, half-closes nothing,
# and prints what came back: "REPLY <text>" or "CLOSED" (EOF with no data)
# or "RESET" (dropped with an error), then "AFTER <seconds>".
sock_send() {
	$PY - "$@" <<-'EOF'
		import socket, sys, time
		path, data = sys.argv[1], bytes.fromhex(sys.argv[2])
		secs = float(sys.argv[3]) if len(sys.argv) > 3 else 15
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.settimeout(secs)
		s.connect(path)
		t0 = time.monotonic()
		got = b""
		how = None
		try:
		    if data:
		        s.sendall(data)
		    while True:
		        b = s.recv(65536)
		        if not b:
		            break
		        got += b
		except (BrokenPipeError, ConnectionResetError):
		    how = "RESET"
		except socket.timeout:
		    how = "TIMEOUT"
		if got:
		    print("REPLY " + got.decode("utf-8", "replace").rstrip("\n"))
		else:
		    print(how or "CLOSED")
		print("AFTER %.2f" % (time.monotonic() - t0))
	EOF
}

# ---- assertions ---------------------------------------------------------------------

# assert_line_prefix PREFIX: some line of $output starts with PREFIX.
assert_line_prefix() {
	local l

	for l in "${lines[@]}"; do
		[[ $l == "$1"* ]] && return 0
	done
	batslib_print_kv_single_or_multi 8 'prefix' "$1" 'output' "$output" |
		batslib_decorate 'no line starts with the prefix' |
		fail
}

# status_matches REGEX: the status JSON matches the extended regex.
status_matches() {
	local js

	js=$(status_json) || return 1
	grep -Eq -- "$1" <<<"$js" || {
		echo "status does not match /$1/: $js"
		return 1
	}
}
