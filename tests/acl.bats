#!/usr/bin/env bats
# acl.bats: the least-privilege ACL rules of gcs-flushd(8), "LEAST
# PRIVILEGE".  A user with exactly the documented rules runs every mode
# (archive on and off, a policy key or none, db 0 and others) and restores,
# and the server's ACL LOG stays empty; each rule taken away on its own
# gives an error that names what was refused.  The rules below are the
# man page's, and the first test checks that the man page lists them.

# shellcheck disable=SC2154,SC2034
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}
load helpers
load flushing

PW=acl-test-password

# daemon_rules ARCHIVE DB PREFIX [POLICY_KEY]: the documented rules for a
# shard with these settings and match = PREFIX:*, one a line.
daemon_rules() {
	local archive=$1 db=$2 prefix=$3 pk=${4:-}

	printf '%s\n' +ping +role +info '+config|get' '+config|set' +scan '+object|idletime' +subscribe \
		"&__keyevent@${db}__:*" "~$prefix:*"
	((db == 0)) || echo +select
	if [[ $archive == yes ]]; then
		printf '%s\n' +evalsha +eval +dump +pttl +unlink
	else
		echo +unlink
	fi
	[[ -z $pk ]] || printf '%s\n' +hgetall "~$pk"
}

# restore_rules PREFIX: gcs-flushctl restore's.
restore_rules() {
	printf '%s\n' +select +restore "~$1:*"
}

# acl_user [-r REDIS] NAME <RULES: the ACL user NAME (on redis r unless
# -r) with only the rules on stdin, one a line (no word splitting, no
# globbing of their stars).
acl_user() {
	local redis=r name out
	local -a rules

	if [[ $1 == -r ]]; then
		redis=$2
		shift 2
	fi
	name=$1
	mapfile -t rules
	out=$(redis_cli "$redis" ACL SETUSER "$name" on ">$PW" resetkeys resetchannels -@all "${rules[@]}" 2>&1)
	[[ $out == OK ]] || fail "ACL SETUSER $name ${rules[*]}: $out"
}

# shard_as NAME DB PREFIX [key = value lines...]: a shard on redis r that
# authenticates as user NAME and matches PREFIX:*.
shard_as() {
	local name=$1 db=$2 prefix=$3

	shift 3
	conf_shard "$name" "unix:$(redis_sock r)" "username = $name" "password_file = $TEST_DIR/pw" "db = $db" \
		"match = $prefix:*" "$@"
}

# keys_in DB FMT FROM TO: SET FMT % i in db DB of redis r.
keys_in() {
	seq -f "SET $2 v" "$3" "$4" | redis_cli r -n "$1" >/dev/null || fail "cannot write keys"
}

pw_file() {
	printf '%s\n' "$PW" >"$TEST_DIR/pw"
	chmod 600 "$TEST_DIR/pw"
}

# without RULE RULES...: RULES less RULE.
without() {
	local drop=$1 r

	shift
	for r in "$@"; do
		[[ $r == "$drop" ]] || echo "$r"
	done
}

@test "the man page lists every rule these tests use" {
	local text r
	local -a all
	text=$(sed -n '/^\.SH LEAST PRIVILEGE/,/^\.SH SIGNALS/p' "$top_srcdir/man/gcs-flushd.8" | sed 's/\\-/-/g')
	[[ -n $text ]] || fail "no LEAST PRIVILEGE section in man/gcs-flushd.8"
	mapfile -t all < <(echo -@all; daemon_rules yes 3 PATTERN POLICY_KEY; daemon_rules no 0 PATTERN; restore_rules PATTERN)
	for r in "${all[@]}"; do
		case $r in	# as the roff source writes them: .BI ~ PATTERN
		'&__keyevent@3__:*') r='.BI &__keyevent@ DB __:*' ;;
		'~PATTERN:*') r='.BI ~ PATTERN' ;;
		'~POLICY_KEY') r='.BI ~ POLICY_KEY' ;;
		esac
		grep -qF -- "$r" <<<"$text" || fail "the man page does not list $r"
	done
}

@test "a user with exactly the documented rules runs every mode, and restores; nothing is refused" {
	local r out
	redis_start r
	pw_file
	acl_user s1 < <(daemon_rules yes 0 a pk1)
	acl_user s2 < <(daemon_rules no 1 b)
	acl_user s3 < <(daemon_rules yes 2 c)
	acl_user s4 < <(daemon_rules no 0 d pk4)
	acl_user restorer < <(restore_rules a)
	keys_in 2 'c:%04g' 1 100	# found by the reconciliation
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	shard_as s1 0 a 'archive = yes' 'policy_key = pk1'
	shard_as s2 1 b 'archive = no'
	shard_as s3 2 c 'archive = yes'
	shard_as s4 0 d 'archive = no' 'policy_key = pk4'
	daemon_start
	for s in s1 s2 s3 s4; do
		shard_ready "$s"
	done
	keys_in 0 'a:%04g' 1 100	# seen by the keyspace events
	keys_in 1 'b:%04g' 1 100
	keys_in 0 'd:%04g' 1 100
	for s in s1 s2 s3 s4; do
		wait_for shard_is "$s" tracked_entries 100
	done
	for s in s1 s2 s3 s4; do
		r=$(flush_req "$s" 10)
		assert_flush_reply "$r" true 10 10 0
	done
	run redis_cli r -n 0 EXISTS a:0010 a:0011 d:0010 d:0011	# oldest first
	assert_output 2
	redis_cli r HSET pk1 flush_num_entries_each_time 7 >/dev/null
	redis_cli r HSET pk4 flush_num_entries_each_time 9 >/dev/null
	wait_for setting_is s1 flush_num_entries_each_time 7 runtime
	wait_for setting_is s4 flush_num_entries_each_time 9 runtime
	# Tracking goes on: new keys are seen.
	keys_in 1 'b:%04g' 101 110
	wait_for shard_is s2 tracked_entries 100
	# Restore, as the restore user.
	sed 's/^username = s1$/username = restorer/' "$CONF" >"$TEST_DIR/restore.conf"
	out=$("$GCS_FLUSHCTL" -c "$TEST_DIR/restore.conf" restore s1 a:0001 a:0002) || fail "restore: $out"
	[[ $(grep -c ': restored the version flushed at' <<<"$out") == 2 ]] || fail "restore: $out"
	for s in s1 s2 s3 s4; do
		run status_field "$s" last_error
		assert_output null
	done
	run redis_cli r ACL LOG
	assert_output ''
	! grep -q NOPERM "$DAEMON_LOG" || fail "refused: $(grep NOPERM "$DAEMON_LOG")"
	daemon_stop
}

# flush_error SHARD REGEX: a forced flush fails with an error matching REGEX.
flush_error() {
	local r e

	r=$(flush_req "$1" 5)
	[[ $(jget "$r" "j['ok']") == false ]] || fail "$1: the flush did not fail: $r"
	[[ $(jget "$r" "j['flushed']") == 0 ]] || fail "$1: the flush failed but flushed: $r"
	e=$(jget "$r" "j['error']")
	grep -Eq -- "$2" <<<"$e" || fail "$1: flush error '$e', not /$2/"
}

# log_matches ERE: a line of the daemon's log matches.
log_matches() {
	grep -Eq -- "$1" "$DAEMON_LOG"
}

# no_cmd NAME: Redis's refusal of command NAME (a regex).
no_cmd() {
	echo "NOPERM this user has no permissions to run the '$1' command"
}

@test "each documented rule taken away: an error that names what was refused, and nothing deleted" {
	local r s i k
	local -a full
	redis_start r
	redis_start noset	# for +config|set: nobody has set the flags there
	pw_file
	conf_base "" 'flush_when_at_least_bytes = 1TiB'
	# One shard (and user) a rule; each matches its own keys.
	declare -A drop=([u_ping]=+ping [u_role]=+role [u_info]=+info [u_cget]='+config|get' [u_scan]=+scan
		[u_idle]='+object|idletime' [u_sub]=+subscribe [u_chan]='&__keyevent@0__:*'
		[u_evalsha]=+evalsha [u_eval]=+eval [u_dump]=+dump [u_pttl]=+pttl [u_unlink]=+unlink
		[u_keys]='~u_keys:*' [u_hgetall]=+hgetall)
	for s in "${!drop[@]}"; do
		mapfile -t full < <(daemon_rules yes 0 "$s" "pk_$s")
		acl_user "$s" < <(without "${drop[$s]}" "${full[@]}")
		keys_in 0 "$s:%04g" 1 20
		shard_as "$s" 0 "$s" 'archive = yes' "policy_key = pk_$s"
	done
	mapfile -t full < <(daemon_rules no 0 u_unlink_off)
	acl_user u_unlink_off < <(without +unlink "${full[@]}")
	keys_in 0 'u_unlink_off:%04g' 1 20
	shard_as u_unlink_off 0 u_unlink_off 'archive = no'
	mapfile -t full < <(daemon_rules no 1 u_select)
	acl_user u_select < <(without +select "${full[@]}")
	shard_as u_select 1 u_select 'archive = no'
	mapfile -t full < <(daemon_rules no 0 u_cset)
	acl_user -r noset u_cset < <(without '+config|set' "${full[@]}")
	conf_shard u_cset "unix:$(redis_sock noset)" 'username = u_cset' "password_file = $TEST_DIR/pw" \
		'match = u_cset:*' 'archive = no'
	daemon_start

	# Refused in the handshake or the subscription: state error.
	wait_for error_has u_role "^ROLE: $(no_cmd role)"
	wait_for error_has u_ping "^handshake: $(no_cmd ping)"
	wait_for error_has u_cget "^cannot enable keyspace notifications \($(no_cmd 'config\|get')\); add to redis.conf: notify-keyspace-events "
	wait_for error_has u_cset "^cannot enable keyspace notifications \($(no_cmd 'config\|set')\); add to redis.conf: notify-keyspace-events Egxen\$"
	wait_for error_has u_sub "^subscriber: SUBSCRIBE: $(no_cmd subscribe)"
	wait_for error_has u_chan '^subscriber: SUBSCRIBE: NOPERM this user has no permissions to access one of the channels'
	wait_for error_has u_select "^SELECT: $(no_cmd select)"
	# Between its retries (backoff from 0.1 s): a retry shows connecting.
	for s in u_role u_ping u_cget u_cset u_sub u_chan u_select; do
		wait_for shard_is "$s" state error
	done
	# Refused at the tick or in the reconciliation: logged, and said.
	wait_for error_has u_info "^INFO memory: $(no_cmd info)"
	wait_for log_matches "shard u_scan: reconciliation: SCAN failed: $(no_cmd scan)"
	wait_for log_matches "shard u_idle: OBJECT IDLETIME refused \($(no_cmd 'object\|idletime')"
	wait_for log_matches "shard u_hgetall: policy key pk_u_hgetall: $(no_cmd hgetall)"
	# Refused by a flush: its error, and nothing deleted.
	for s in u_evalsha u_dump u_pttl u_unlink u_keys u_unlink_off u_eval; do
		shard_ready "$s"
	done
	flush_error u_evalsha "^compare-and-delete: $(no_cmd evalsha)"
	flush_error u_dump "^DUMP: $(no_cmd dump)\$"
	flush_error u_pttl "^PTTL: $(no_cmd pttl)\$"
	flush_error u_unlink "^compare-and-delete: $(no_cmd unlink) \(called by gcs-flushd's script\)"
	flush_error u_keys '^DUMP: NOPERM this user has no permissions to access one of the keys'
	flush_error u_unlink_off "^UNLINK: $(no_cmd unlink)"
	# EVAL only when the server has not cached the script.
	redis_cli r SCRIPT FLUSH >/dev/null
	flush_error u_eval "^compare-and-delete: $(no_cmd eval)"
	for s in u_evalsha u_dump u_pttl u_unlink u_keys u_unlink_off u_eval; do
		run redis_cli r --scan --pattern "$s:*"
		[[ ${#lines[@]} == 20 ]] || fail "$s: ${#lines[@]} keys left of 20"
	done

	# gcs-flushctl restore, each of its rules taken away.
	mapfile -t full < <(restore_rules u_evalsha)
	for i in 0 1 2; do
		acl_user "restorer$i" < <(without "${full[$i]}" "${full[@]}")
	done
	redis_cli r ACL SETUSER u_evalsha +evalsha >/dev/null	# archive something to restore
	r=$(flush_req u_evalsha 1)
	assert_flush_reply "$r" true 1 1 0
	k=$("$GCS_FLUSHCTL" -c "$CONF" archive ls u_evalsha 2>/dev/null | tail -n 1 | awk '{ print $NF }')
	[[ $k == u_evalsha:* ]] || fail "nothing archived: '$k'"
	for i in 0 1 2; do
		sed "s/^username = u_evalsha\$/username = restorer$i/" "$CONF" >"$TEST_DIR/restore$i.conf"
		run "$GCS_FLUSHCTL" -c "$TEST_DIR/restore$i.conf" restore u_evalsha "$k"
		assert_failure 1
		case $i in
		0) assert_output --regexp "^$k: SELECT 0: $(no_cmd select)" ;;
		1) assert_output --regexp "^$k: $(no_cmd restore)" ;;
		2) assert_output --regexp "^$k: NOPERM this user has no permissions to access one of the keys" ;;
		esac
	done
	daemon_stop
}
