#!/usr/bin/env bats
# tls.bats: shards over TLS, with a CA and certificates made here with
# openssl and redis-servers serving TLS on a free port: flushing, archiving
# and restore (oldest first, nothing lost), mutual TLS, a wrong CA, host
# name or IP address and an expired certificate (a clear last_error each,
# nothing deleted, recovery once fixed), renewed files picked up by a
# reload for the shard concerned only, a Redis restart and connections cut
# mid-flush, the config's TLS errors, and no memory kept per connection.
# The test's own tools reach each redis on its plain UNIX socket.

# shellcheck disable=SC2154,SC2034
# Under valgrind a TLS handshake takes ~75 ms: 1000 of them, a minute and more.
[[ ${GCS_TEST_VALGRIND:-} != 1 ]] || BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-90}
load helpers
load flushing
load archive
load tls

setup_file() {
	CERTS=$BATS_FILE_TMPDIR/certs
	export CERTS
	tls_make_certs "$CERTS"
}

# key_copy NAME FROM: $TEST_DIR/NAME.{crt,key}, a private copy of FROM's.
key_copy() {
	cp "$CERTS/$2.crt" "$TEST_DIR/$1.crt"
	install -m 600 "$CERTS/$2.key" "$TEST_DIR/$1.key"
}

@test "over TLS, by IP address and by name: oldest first, archived, restored byte for byte, nothing lost" {
	local ref=$TEST_DIR/ref.dump r
	redis_start_tls r "${SAME_DUMP_ARGS[@]}"
	conf_base "" 'flush_when_at_least_bytes = 1TiB' 'flush_max_entries_per_sec = 0'
	tls_shard on "127.0.0.1:$(tls_port r)" 'match = a:*' 'archive = yes'
	tls_shard off "localhost:$(tls_port r)" 'match = b:*' 'archive = no'
	daemon_start
	shard_ready on
	shard_ready off
	put_keys r 1 1000 'a:%04g'
	put_keys r 1 1000 'b:%04g'
	wait_for shard_is on tracked_entries 1000
	wait_for shard_is off tracked_entries 1000
	seq_keys 1 1000 'a:%04g' >"$TEST_DIR/a.keys"
	seq_keys 1 400 'a:%04g' >"$TEST_DIR/a400.keys"
	dump_keys r "$TEST_DIR/a.keys" "$ref"
	head -n 400 "$ref" >"$ref.400"

	r=$(flush_req on 400)
	assert_flush_reply "$r" true 400 400 0
	r=$(flush_req off 400)
	assert_flush_reply "$r" true 400 400 0
	# Oldest first, on both.
	assert_keys "gone from shard on" "$TEST_DIR/a400.keys" <(gone_since "$TEST_DIR/a.keys" r 'a:*')
	assert_keys "gone from shard off" <(seq_keys 1 400 'b:%04g') \
		<(comm -23 <(seq_keys 1 1000 'b:%04g') <(live_keys r 'b:*'))
	assert_keys "archived" "$TEST_DIR/a400.keys" <(ls_keys on)
	# gcs-flushctl restore goes over TLS with the shard's settings.
	restore_batches on "$TEST_DIR/a400.keys" 200
	dump_keys r "$TEST_DIR/a400.keys" "$TEST_DIR/restored.dump"
	compare_dumps "$ref.400" "$TEST_DIR/restored.dump"
	# The rest (the restored keys came back as new ones): all of it goes,
	# and the archive holds every key's value.
	wait_for shard_is on tracked_entries 1000
	r=$(flush_req on 2000)
	assert_flush_reply "$r" true 2000 1000 0
	run live_count r 'a:*'
	assert_output 0
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	export_into on scratch
	dump_all scratch "$TEST_DIR/exported.dump"
	compare_dumps "$ref" "$TEST_DIR/exported.dump"
	run status_field on last_error
	assert_output null
	daemon_stop
}

@test "mutual TLS: without a client certificate a clear error and nothing deleted; with one it connects, flushes and restores" {
	local out
	redis_start_tls m --tls-auth-clients yes
	conf_base "" 'flush_when_at_least_bytes = 0'
	tls_shard m "127.0.0.1:$(tls_port m)"
	cp "$CONF" "$TEST_DIR/nocert.conf"
	daemon_start
	put_keys m 1 50
	wait_for shard_is m state error
	wait_for error_has m '^TLS: the server requires a client certificate, and none is configured \(tls_cert_file, tls_key_file\) \(127\.0\.0\.1:[0-9]+\)$'
	sleep 0.6	# three periods with the threshold at 0
	run live_count m
	assert_output 50

	conf_base "" 'flush_when_at_least_bytes = 0'
	tls_shard m "127.0.0.1:$(tls_port m)" "tls_cert_file = $CERTS/client.crt" "tls_key_file = $CERTS/client.key"
	run ctl reload
	assert_success
	assert_output 'reloaded: changed m'
	wait_for -t 20 live_count_is m 0
	run status_field m state
	assert_output connected
	out=$("$GCS_FLUSHCTL" -c "$CONF" restore m k:0001 k:0002) || fail "restore with the certificate: $out"
	[[ $(grep -c ': restored the version flushed at' <<<"$out") == 2 ]] || fail "restore: $out"
	# The client without it: a clear error, and it stops at the first key.
	redis_cli m DEL k:0001 k:0002 >/dev/null
	run "$GCS_FLUSHCTL" -c "$TEST_DIR/nocert.conf" restore m k:0001 k:0002
	assert_failure 1
	assert_line --regexp '^k:0001: SELECT 0: TLS: the server requires a client certificate, and none is configured \(tls_cert_file, tls_key_file\) \(127\.0\.0\.1:[0-9]+\)$'
	assert_line --regexp '^gcs-flushctl: the connection to 127\.0\.0\.1:[0-9]+ failed; stopped$'
	daemon_stop
}

# four_shards bad|good: the shards of the next test, wrong or right.
four_shards() {
	local p x
	p=$(tls_port r)
	x=$(tls_port x)
	conf_base "" 'flush_when_at_least_bytes = 0'
	if [[ $1 == bad ]]; then
		conf_shard ca "127.0.0.1:$p" 'tls = yes' "tls_ca_file = $CERTS/ca2.crt" 'match = ca:*'
		tls_shard host "localhost:$p" 'tls_server_name = wrong.test' 'match = host:*'
		tls_shard ip "127.0.0.1:$p" 'tls_server_name = 127.0.0.2' 'match = ip:*'
	else
		tls_shard ca "127.0.0.1:$p" 'match = ca:*'
		tls_shard host "localhost:$p" 'tls_server_name = redis.test' 'match = host:*'
		tls_shard ip "[::1]:$p" 'match = ip:*'
	fi
	tls_shard exp "127.0.0.1:$x" 'match = exp:*'
}

@test "a wrong CA, host name or IP address, an expired certificate: a clear last_error each, nothing deleted, recovery once fixed" {
	local s p x
	redis_start_tls r
	redis_start_tls x --tls-cert-file "$CERTS/expired.crt"
	p=$(tls_port r)
	x=$(tls_port x)
	four_shards bad
	daemon_start
	put_keys r 1 20 'ca:%04g'
	put_keys r 1 20 'host:%04g'
	put_keys r 1 20 'ip:%04g'
	put_keys x 1 20 'exp:%04g'
	for s in ca host ip exp; do
		wait_for shard_is "$s" state error
	done
	wait_for error_has ca "^TLS: certificate verify failed: (self-signed certificate in certificate chain|unable to get local issuer certificate) \(127\.0\.0\.1:$p\)\$"
	wait_for error_has host "^TLS: certificate verify failed: hostname mismatch \(localhost:$p\)\$"
	wait_for error_has ip "^TLS: certificate verify failed: IP address mismatch \(127\.0\.0\.1:$p\)\$"
	wait_for error_has exp "^TLS: certificate verify failed: certificate has expired \(127\.0\.0\.1:$x\)\$"
	sleep 0.6	# three periods with the threshold at 0
	run live_count r
	assert_output 60
	run live_count x
	assert_output 20
	grep -q 'warning: shard ca: TLS: certificate verify failed' "$DAEMON_LOG" || fail "not logged"

	# Fixed: the config by a reload, the server's certificate on the server.
	four_shards good
	run ctl reload
	assert_success
	redis_cli x CONFIG SET tls-cert-file "$CERTS/server.crt" >/dev/null
	for s in ca host ip exp; do
		wait_for -t 20 shard_is "$s" state connected
	done
	wait_for -t 20 live_count_is r 0
	wait_for -t 20 live_count_is x 0
	daemon_stop
}

@test "renewed certificate files under the same names: a reload reconnects that shard only; a broken renewal keeps the old" {
	local ca cb
	redis_start_tls m --tls-auth-clients yes
	key_copy a client
	key_copy b client
	conf_base
	tls_shard a "127.0.0.1:$(tls_port m)" "tls_cert_file = $TEST_DIR/a.crt" "tls_key_file = $TEST_DIR/a.key" 'match = a:*'
	tls_shard b "127.0.0.1:$(tls_port m)" "tls_cert_file = $TEST_DIR/b.crt" "tls_key_file = $TEST_DIR/b.key" 'match = b:*'
	daemon_start
	shard_ready a
	shard_ready b
	ca=$(status_field a connects_total)
	cb=$(status_field b connects_total)
	key_copy a client2
	run ctl reload
	assert_success
	assert_output 'reloaded: changed a; 1 unchanged'
	wait_for field_at_least a connects_total $((ca + 1))
	wait_for shard_is a state connected
	run status_field b connects_total
	assert_output "$cb"
	# Half a renewal (the new certificate, the old key): the reload fails
	# at the key's line and a keeps its connection.
	ca=$(status_field a connects_total)
	cp "$CERTS/client.crt" "$TEST_DIR/a.crt"
	EXPECT_LOG_ERRORS_RE='reload failed, keeping the running config: .*tls_key_file'
	run ctl reload
	assert_failure
	assert_output --regexp "$CONF:[0-9]+: tls_key_file: $TEST_DIR/a\.key: the key does not match tls_cert_file"
	sleep 0.3
	run status_field a connects_total
	assert_output "$ca"
	run status_field a state
	assert_output connected
	daemon_stop
}

@test "over TLS, connections cut mid-flush and a Redis restart: the flush finishes, every entry archived" {
	local ref=$TEST_DIR/ref.dump aof=(--appendonly yes --appendfsync always) pid c i
	redis_start_tls r "${SAME_DUMP_ARGS[@]}" "${aof[@]}"
	conf_base "" 'archive = yes'
	tls_shard r "127.0.0.1:$(tls_port r)" 'flush_when_at_least_bytes = 0' 'flush_max_entries_per_sec = 2000'
	daemon_start
	shard_ready r
	ctl pause r >/dev/null
	put_keys r 1 3000
	dump_all r "$ref"
	ctl resume r >/dev/null
	# Chunks are always in flight at this pace: each kill cuts some
	# between their DUMP and their compare-and-delete.
	for i in 1 2; do
		wait_for field_at_least r flushed_entries_total $((i * 300))
		c=$(status_field r connects_total)
		redis_cli r CLIENT KILL TYPE normal >/dev/null
		redis_cli r CLIENT KILL TYPE pubsub >/dev/null
		wait_for field_at_least r connects_total $((c + 1))
	done
	wait_for field_at_least r flushed_entries_total 1000
	pid=$(pid_of redis-r)
	kill -KILL "$pid"
	wait_gone "$pid" 10 || fail "redis survived SIGKILL"
	rm -f "$PID_DIR/redis-r.pid"
	wait_for shard_state_in r down connecting
	redis_start_tls r "${SAME_DUMP_ARGS[@]}" "${aof[@]}"
	(($(live_count r) < 3000)) || fail "nothing was flushed before the kill"
	wait_for -t 20 shard_is r state connected
	wait_for -t 30 live_count_is r 0 'k:*'
	grep -q 'connection lost' "$DAEMON_LOG" || fail "the daemon saw no lost connection"
	redis_start scratch "${SAME_DUMP_ARGS[@]}"
	export_into r scratch
	dump_all scratch "$TEST_DIR/restored.dump"
	compare_dumps "$ref" "$TEST_DIR/restored.dump"
	daemon_stop
}

# conf_fails KEY MESSAGE ADDRESS [LINES...]: a shard at ADDRESS with LINES
# is a mistake: -t fails with MESSAGE at KEY's line.
conf_fails() {
	local key=$1 msg=$2 line

	shift 2
	conf_base
	conf_shard a "$@"
	line=$(grep -n "^$key = " "$CONF" | head -n 1 | cut -d: -f1)
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_failure 1
	assert_output --partial "$CONF:$line: $key: $msg"
}

@test "config: TLS mistakes are FILE:LINE errors, and a good TLS shard passes -t" {
	printf 'not a certificate\n' >"$TEST_DIR/junk.pem"
	install -m 644 "$CERTS/client.key" "$TEST_DIR/open.key"
	conf_fails tls 'needs a host:port address: Redis serves TLS over TCP only' 'unix:/run/redis.sock' 'tls = yes'
	conf_fails tls_key_file "$TEST_DIR/open.key is accessible by others (mode 0644); run 'chmod o-rwx $TEST_DIR/open.key'" \
		'127.0.0.1:6390' 'tls = yes' "tls_cert_file = $CERTS/client.crt" "tls_key_file = $TEST_DIR/open.key"
	conf_fails tls_cert_file 'needs tls_key_file too' '127.0.0.1:6390' 'tls = yes' "tls_cert_file = $CERTS/client.crt"
	conf_fails tls_ca_file "$TEST_DIR/junk.pem: no CA certificate found" '127.0.0.1:6390' 'tls = yes' \
		"tls_ca_file = $TEST_DIR/junk.pem"
	conf_fails tls_ca_file "cannot read $TEST_DIR/none.pem: No such file or directory" '127.0.0.1:6390' 'tls = yes' \
		"tls_ca_file = $TEST_DIR/none.pem"
	conf_fails tls_key_file "$CERTS/client2.key: the key does not match tls_cert_file" '127.0.0.1:6390' 'tls = yes' \
		"tls_cert_file = $CERTS/client.crt" "tls_key_file = $CERTS/client2.key"
	conf_fails tls_ca_file 'has no effect without tls = yes' '127.0.0.1:6390' "tls_ca_file = $CERTS/ca.crt"
	conf_fails tls_server_name "'bad name': expected a host name or an IP address" '127.0.0.1:6390' 'tls = yes' \
		'tls_server_name = bad name'
	conf_base
	tls_shard a '[::1]:6390' "tls_cert_file = $CERTS/client.crt" "tls_key_file = $CERTS/client.key" \
		'tls_server_name = redis.test'
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_success
}

# cycle CONFIG GOOD BAD: tests/conn-cycle, 1000 times, under valgrind with
# GCS_TEST_VALGRIND=1 (and LeakSanitizer in a sanitizer build).
cycle() {
	local wrap=()

	if [[ ${GCS_TEST_VALGRIND:-} == 1 ]]; then
		wrap=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99)
	fi
	run env GLIBC_TUNABLES=glibc.malloc.tcache_count=0 ${wrap[@]+"${wrap[@]}"} \
		"$top_builddir/tests/conn-cycle" "$@" 1000
	echo "# $*: $output" >&3
	assert_success
	assert_line --regexp '^1000 cycles, 500 losses; '
}

@test "connect and drop 1000 times (TLS, and a UNIX socket), every way a connection ends: no memory kept per connection" {
	[[ -x $top_builddir/tests/conn-cycle ]] || fail "tests/conn-cycle not built (make check builds it)"
	redis_start_tls r
	conf_base
	tls_shard good "127.0.0.1:$(tls_port r)"
	tls_shard bad "127.0.0.1:$(tls_port r)" 'tls_server_name = wrong.test'
	conf_shard plain "unix:$(redis_sock r)"
	conf_shard nosock "unix:$TEST_DIR/none.sock"
	cycle "$CONF" good bad
	cycle "$CONF" plain nosock
}
