#!/usr/bin/env bats
# metrics.bats: GET /metrics (metrics_listen): the text is what promtool
# accepts, it says what status says, the man page documents every metric;
# the listener answers only GET and HEAD of /metrics, follows reloads, and
# survives hostile clients (a head dripped a byte at a time, a huge head,
# a thousand connections) with bounded memory.  A Redis Cluster shard is
# one series per master for its per-node metrics, one for the shard's own.

load helpers
load flushing
load metrics
load cluster

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"
}

fd_count() {
	ls "/proc/$DAEMON_PID/fd" | wc -l
}

# start_daemon: shard a on a real redis (a 60 s period: no tick changes a
# counter while a test compares), shard b that never connects.
start_daemon() {
	redis_start r
	conf_base
	conf_metrics
	conf_shard a "unix:$(redis_sock r)" "flush_period_secs = 60"
	conf_shard b "unix:$TEST_DIR/no-such.sock"
	daemon_start
	wait_for shard_is a state connected
}

@test "promtool accepts /metrics; every sample says what status says; the man page documents every metric" {
	start_daemon
	put_keys r 1 300
	wait_for shard_is a tracked_entries 300
	run flush_req a 100
	assert_output --partial '"flushed":100'
	# Shard b retries meanwhile: its counters move, so a sample must lie
	# between what status said just before and just after the scrape.
	status_json >"$TEST_DIR/status.json"
	metrics_get >"$TEST_DIR/metrics.txt"
	status_json >"$TEST_DIR/status2.json"

	run promtool check metrics <"$TEST_DIR/metrics.txt"
	assert_success
	refute_output --partial 'problem'

	run $PY - "$TEST_DIR/status.json" "$TEST_DIR/metrics.txt" "$top_srcdir/man/gcs-flushd.8" "$TEST_DIR/status2.json" <<-'EOF'
		import json, re, sys
		status = json.load(open(sys.argv[1]))
		text = open(sys.argv[2]).read()
		man = open(sys.argv[3]).read()
		shards = {s["name"]: s for s in status["shards"]}
		after = {s["name"]: s for s in json.load(open(sys.argv[4]))["shards"]}
		field_of, types, samples = {}, {}, {}
		for line in text.splitlines():
		    if line.startswith("# HELP "):
		        name, _, doc = line[7:].partition(" ")
		        m = re.search(r"\(status: (\w+)\)$", doc)
		        if m:
		            field_of[name] = m.group(1)
		    elif line.startswith("# TYPE "):
		        name, t = line[7:].split()
		        types[name] = t
		    elif line:
		        m = re.match(r'^(\w+)(?:\{(.*)\})? (\S+)$', line)
		        assert m, line
		        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
		        samples.setdefault(m.group(1), []).append((labels, float(m.group(3))))
		bad = []

		def sample(name, shard, le=None):
		    got = [v for l, v in samples.get(name, []) if l.get("shard") == shard and l.get("le") == le]
		    assert len(got) <= 1, (name, shard, got)
		    return got[0] if got else None

		def between(got, lo, hi, slack):
		    return got is not None and min(lo, hi) - slack <= got <= max(lo, hi) + slack

		for name, field in field_of.items():
		    for shard, st in shards.items():
		        want, want2 = st[field], after[shard][field]
		        if types[name] == "histogram":
		            if want is None or want2 is None:
		                if sample(name + "_count", shard) is not None and want == want2:
		                    bad.append("%s{%s}: a sample for null" % (name, shard))
		                continue
		            if not between(sample(name + "_count", shard), want["count"], want2["count"], 0):
		                bad.append("%s_count{%s}" % (name, shard))
		            if not between(sample(name + "_sum", shard), want["sum"], want2["sum"], 1e-5):
		                bad.append("%s_sum{%s}" % (name, shard))
		            for le, n in want["buckets"].items():
		                if not between(sample(name + "_bucket", shard, le), n, want2["buckets"][le], 0):
		                    bad.append("%s_bucket{%s,le=%s}" % (name, shard, le))
		            continue
		        got = sample(name, shard)
		        if want is None or want2 is None:
		            if got is not None and want is None and want2 is None:
		                bad.append("%s{%s} = %s, status %s is null" % (name, shard, got, field))
		            continue
		        slack = 2.0 if field.endswith("_age_s") else 0.0005
		        if not between(got, float(want), float(want2), slack):
		            bad.append("%s{%s} = %s, status %s = %s then %s" % (name, shard, got, field, want, want2))
		# Every numeric status field is a metric; these are not, on purpose.
		no_metric = set(shards["a"]) - set(field_of.values())
		if no_metric != {"name", "address", "db", "state", "reconcile_state", "last_error", "settings", "topology", "flush_mode"}:
		    bad.append("status fields without a metric: %s" % sorted(no_metric))
		if sample("gcs_flushd_flushed_entries_total", "a") != 100:
		    bad.append("flushed_entries_total is not the 100 flushed")
		# The man page's METRICS section names each family, and no other.
		section = man[man.index("\n.SH METRICS"):man.index("\n.SH", man.index("\n.SH METRICS") + 1)]
		documented = set(re.findall(r"^\.B ((?:gcs_flushd|process)_\w+)$", section, re.M))
		if documented != set(types):
		    bad.append("documented, not served: %s; served, not documented: %s"
		               % (sorted(documented - set(types)), sorted(set(types) - documented)))
		print("\n".join(bad) or "ok")
	EOF
	assert_output ok
}

@test "GET and HEAD of /metrics only: 404, 405, 400; a query string, HTTP/1.0 and bare newlines are fine" {
	start_daemon
	run http_req "$METRICS_ADDR" 'GET /metrics?x=1 HTTP/1.0\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 200 OK'
	assert_output --partial 'gcs_flushd_shard_up{shard="a"} 1'
	run http_req "$METRICS_ADDR" 'GET /metrics HTTP/1.1\nHost: x\n\n'
	assert_line --index 0 'HTTP/1.1 200 OK'
	run http_req "$METRICS_ADDR" 'HEAD /metrics HTTP/1.1\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 200 OK'
	((${#lines[@]} == 1)) || fail "HEAD got a body: $output"
	run http_req "$METRICS_ADDR" 'GET / HTTP/1.1\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 404 Not Found'
	run http_req "$METRICS_ADDR" 'GET /metricsx HTTP/1.1\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 404 Not Found'
	run http_req "$METRICS_ADDR" 'POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'
	assert_line --index 0 'HTTP/1.1 405 Method Not Allowed'
	run http_req "$METRICS_ADDR" 'hello\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 400 Bad Request'
	run http_req "$METRICS_ADDR" 'GET /metrics HTTP/2.0\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 400 Bad Request'
	run http_req "$METRICS_ADDR" 'GET /met\0rics HTTP/1.1\r\n\r\n'
	assert_line --index 0 'HTTP/1.1 400 Bad Request'
	run ctl status
	assert_success
}

@test "hostile: a head dripped a byte at a time gets 408 five seconds after connecting; others are served meanwhile" {
	start_daemon
	$PY - "$METRICS_ADDR" >"$TEST_DIR/drip.out" 3>&- <<-'EOF' &
		import socket, sys, time
		host, port = sys.argv[1].rsplit(":", 1)
		s = socket.create_connection((host, int(port)))
		t0 = time.monotonic()
		got = b""
		s.settimeout(0.2)
		try:
		    for c in b"GET /metrics HTTP/1.1\r\nX-Slow: " + b"y" * 200:
		        s.send(bytes([c]))
		        try:
		            b = s.recv(4096)
		            if not b:
		                break
		            got += b
		        except socket.timeout:
		            pass
		except (BrokenPipeError, ConnectionResetError):
		    pass
		print("%.1f %s" % (time.monotonic() - t0, got.split(b"\r\n")[0].decode()))
	EOF
	record_pid drip $!
	sleep 1
	# The drip holds one connection, no more: scrapes go on.
	run metrics_get
	assert_success
	wait_gone "$(pid_of drip)" 15
	run cat "$TEST_DIR/drip.out"
	[[ $output == *'HTTP/1.1 408 Request Timeout' ]] || fail "drip got: $output"
	local secs=${output%% *}
	$PY -c "import sys; sys.exit(0 if 4.5 <= float('$secs') <= 8 else 1)" || fail "cut off after $secs s"
}

@test "hostile: a 1 MiB head gets 431 and costs no memory; a client that reads nothing is let go" {
	local before after limit=1024
	start_daemon
	metrics_get >/dev/null	# the first connection's own allocations
	before=$(rss_kib)
	# Four of them, one after another: 4 MiB if the daemon kept them.
	run $PY - "$METRICS_ADDR" <<-'EOF'
		import socket, sys
		host, port = sys.argv[1].rsplit(":", 1)
		for i in range(4):
		    s = socket.create_connection((host, int(port)), timeout=10)
		    try:
		        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"x" * (1 << 20))
		    except (BrokenPipeError, ConnectionResetError):
		        pass
		    got = b""
		    try:
		        while True:
		            b = s.recv(4096)
		            if not b:
		                break
		            got += b
		    except (socket.timeout, ConnectionResetError):
		        pass
		    s.close()
		print(got.split(b"\r\n")[0].decode())
	EOF
	assert_output 'HTTP/1.1 431 Request Header Fields Too Large'
	after=$(rss_kib)
	# AddressSanitizer's quarantine keeps what was freed, such as the
	# buffers that drained the rest of each head after the answer (about
	# 2.4 MiB a request): a looser bound there.
	! ldd "$GCS_FLUSHD" | grep -q libasan || limit=32768
	((after - before < limit)) || fail "RSS grew by $((after - before)) KiB"
	# A scraper that asks and never reads: the daemon hands the answer to
	# the kernel, shuts its side, and closes within HTTP_LINGER_SECS.
	before=$(fd_count)
	$PY - "$METRICS_ADDR" 3>&- <<-'EOF' &
		import socket, sys, time
		host, port = sys.argv[1].rsplit(":", 1)
		s = socket.create_connection((host, int(port)))
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
		time.sleep(8)
	EOF
	record_pid mute $!
	sleep 0.5
	(($(fd_count) == before + 1)) || fail "the mute client holds no descriptor? $(fd_count) vs $before"
	wait_for -t 5 bash -c "[[ \$(ls /proc/$DAEMON_PID/fd | wc -l) -le $before ]]"
	run metrics_get
	assert_success
}

@test "hostile: 1000 connections: 64 are held, the rest refused; status and scrapes go on; all go away" {
	local before after limit
	start_daemon
	before=$(rss_kib)
	$PY - "$METRICS_ADDR" 3>&- <<-'EOF' &
		import socket, sys, time
		host, port = sys.argv[1].rsplit(":", 1)
		conns = []
		for i in range(1000):
		    try:
		        conns.append(socket.create_connection((host, int(port)), timeout=5))
		    except OSError:
		        pass
		time.sleep(3)
	EOF
	record_pid holders $!
	sleep 1.5
	run fd_count
	((output < 64 + 40)) || fail "$output descriptors open with 1000 clients"
	run ctl status
	assert_success
	wait_gone "$(pid_of holders)" 20
	# The holders closed; the daemon drops them, and a scrape works again.
	wait_for -t 5 metrics_answers
	run grep -c 'clients connected; refusing more' "$DAEMON_LOG"
	assert_output 1
	after=$(rss_kib)
	if ldd "$GCS_FLUSHD" | grep -q libasan; then
		limit=65536
	else
		limit=4096
	fi
	((after - before < limit)) || fail "RSS grew by $((after - before)) KiB"
	wait_for -t 5 bash -c "[[ \$(ls /proc/$DAEMON_PID/fd | wc -l) -lt 40 ]]"
}

@test "metrics_listen: bad values are FILE:LINE errors; a reload adds, moves and removes the listener; a port in use fails the reload and keeps the old one" {
	local line old new busy
	conf_base
	sed -i 's|^\[daemon\]$|[daemon]\nmetrics_listen = localhost:9479|' "$CONF"
	run "$GCS_FLUSHD" -t -c "$CONF"
	assert_failure
	assert_output --partial "$CONF:2: metrics_listen: 'localhost:9479': the address must be numeric"
	for bad in 127.0.0.1 127.0.0.1:0 '::1:9479' unix:/tmp/x '127.0.0.1:99999'; do
		conf_base
		sed -i "s|^\[daemon\]\$|[daemon]\nmetrics_listen = $bad|" "$CONF"
		run "$GCS_FLUSHD" -t -c "$CONF"
		assert_failure
		assert_output --partial "$CONF:2: metrics_listen: '$bad':"
	done

	redis_start r
	conf_base
	conf_shard a "unix:$(redis_sock r)"
	daemon_start
	old=127.0.0.1:$(test_port)
	sed -i "s|^\[daemon\]\$|[daemon]\nmetrics_listen = $old|" "$CONF"
	run ctl reload
	assert_success
	wait_for -t 5 metrics_answers "$old"
	new="[::1]:$(test_port)"
	sed -i "s|^metrics_listen = .*|metrics_listen = $new|" "$CONF"
	run ctl reload
	assert_success
	wait_for -t 5 metrics_answers "$new"
	run metrics_get "$old"
	assert_failure
	# A port another socket holds: the reload fails and changes nothing.
	busy=$(test_port)
	$PY -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" 3>&- &
	record_pid busy $!
	wait_for -t 5 port_listens "$busy"
	sed -i "s|^metrics_listen = .*|metrics_listen = 127.0.0.1:$busy|" "$CONF"
	EXPECT_LOG_ERRORS_RE='reload failed, keeping the running config: metrics_listen'
	run ctl reload
	assert_failure
	assert_output --partial "metrics_listen: 127.0.0.1:$busy: bind: Address already in use"
	run metrics_get "$new"
	assert_success
	sed -i "s|^metrics_listen = .*|metrics_listen =|" "$CONF"
	run ctl reload
	assert_success
	run metrics_get "$new"
	assert_failure
	daemon_stop
	# At start, a port that cannot be bound stops the daemon, saying why.
	sed -i "s|^metrics_listen =\$|metrics_listen = 127.0.0.1:$busy|" "$CONF"
	run "$GCS_FLUSHD" -c "$CONF"
	assert_failure 1
	assert_output --partial "metrics_listen: 127.0.0.1:$busy: bind: Address already in use"
}

@test "a Redis Cluster shard: per-node series labelled node, per-shard ones without; oldest and dry runs name and ask each key's master" {
	local addrs
	cluster_start
	conf_base
	conf_metrics
	printf '\n[shard:meta]\ncluster = %s\nflush_when_at_least_bytes = 1TiB\n' "$SEEDS" >>"$CONF"
	daemon_start
	wait_for -t 20 nodes_connected 3
	# Across masters the order is the order the events arrive in: k:00091
	# is written once 1-90 are tracked, and 92 on once it is, so that it
	# is the oldest left after the flush of 90 on a busy machine too.
	cluster_put 1 90
	wait_for -t 20 shard_is meta tracked_entries 90
	cluster_put 91 91
	wait_for -t 20 shard_is meta tracked_entries 91
	cluster_put 92 300
	wait_for -t 20 shard_is meta tracked_entries 300
	run flush_req meta 90
	assert_output --partial '"flushed":90'
	addrs=$(status_nodes | awk '{ print $1 }' | sort | tr '\n' ' ')
	metrics_get >"$TEST_DIR/metrics.txt"
	run promtool check metrics <"$TEST_DIR/metrics.txt"
	assert_success
	run $PY - "$TEST_DIR/metrics.txt" "$addrs" <<-'EOF'
		import re, sys
		text, addrs = open(sys.argv[1]).read(), sorted(sys.argv[2].split())
		series = {}
		for line in text.splitlines():
		    m = re.match(r'^(gcs_flushd_\w+)\{(.*)\} (\S+)$', line)
		    if m:
		        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
		        series.setdefault(m.group(1), []).append((labels, float(m.group(3))))
		def nodes(name):
		    return sorted(l.get("node", "-") for l, v in series[name] if "le" not in l)
		bad = []
		for name in ("gcs_flushd_shard_up", "gcs_flushd_flushed_entries_total", "gcs_flushd_used_memory_bytes",
		             "gcs_flushd_flush_cycle_duration_seconds_count"):
		    if nodes(name) != addrs:
		        bad.append("%s: %s" % (name, nodes(name)))
		for name in ("gcs_flushd_tracked_entries", "gcs_flushd_archive_bytes", "gcs_flushd_ledger_bytes"):
		    if nodes(name) != ["-"]:
		        bad.append("%s: %s" % (name, nodes(name)))
		flushed = sum(v for l, v in series["gcs_flushd_flushed_entries_total"])
		up = [v for l, v in series["gcs_flushd_shard_up"]]
		tracked = [v for l, v in series["gcs_flushd_tracked_entries"]]
		if flushed != 90 or up != [1, 1, 1] or tracked != [210]:
		    bad.append("sum flushed %s, up %s, tracked %s" % (flushed, up, tracked))
		print("\n".join(bad) or "ok")
	EOF
	assert_output ok
	# oldest names each entry's master, and the key is there.
	ctl --json oldest meta 50 >"$TEST_DIR/oldest.json"
	run $PY - "$TEST_DIR/oldest.json" "$addrs" <<-'EOF'
		import json, sys, redis
		j = json.load(open(sys.argv[1]))
		assert j["listed"] == 50 and j["entries"][0]["key"] == "k:00091", j["entries"][0]
		for e in j["entries"]:
		    assert e["node"] in sys.argv[2].split(), e
		    host, port = e["node"].rsplit(":", 1)
		    assert redis.Redis(host=host, port=int(port)).exists(e["key"]) == 1, e
		print("ok")
	EOF
	assert_output ok
	run ctl oldest meta 2
	assert_line --index 0 --regexp '^AGE +CREATED \(UTC\) +NODE +KEY$'
	assert_line --index 1 --regexp ' 127\.0\.0\.1:[0-9]+ +k:00091$'
	# A dry run asks each sampled key's own master (another would answer MOVED).
	run ctl --json flush --dry-run meta 100
	assert_success
	assert_output --partial '"would_flush":100,"stops_at":null'
	assert_output --partial '"sampled":64,"sample_gone":0'
	assert_output --partial '"sample_error":null'
	assert_output --regexp '"first":\{"key":"k:00091",[^}]*"node":"127\.0\.0\.1:[0-9]+"\}'
	run ctl flush --dry-run meta 100
	assert_line --index 1 --regexp '^first: k:00091 \(created .*, on 127\.0\.0\.1:[0-9]+\)$'
	[[ $(cluster_keys | wc -l) == 210 ]] || fail "the dry run deleted keys"
}
