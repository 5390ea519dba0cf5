#!/usr/bin/env bats
# prometheus.bats: a real Prometheus (Debian's package) scrapes the daemon
# every second, with the shipped alert rules loaded.  What it stores is
# what the daemon did, exactly (the entries flushed, tracked, archived, the
# cycles), and used_memory agrees with Redis's INFO taken at the same
# moment within 20%; the rules evaluate cleanly on the real series, and a
# shard that goes down shows in Prometheus and starts its alert.
#
# The Prometheus server is our own: a config in the test's directory, a
# free port (never 9090), storage in the test's directory, stopped by PID.

load helpers
load flushing
load metrics

# prom_start: Prometheus scraping $METRICS_ADDR every second.
prom_start() {
	PROM_ADDR=127.0.0.1:$(test_port)
	mkdir -p "$TEST_DIR/prom"
	cat >"$TEST_DIR/prom/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		  evaluation_interval: 1s
		rule_files:
		  - $(cd "$top_srcdir" && pwd)/etc/gcs-flushd.rules.yml
		scrape_configs:
		  - job_name: gcs-flushd
		    static_configs:
		      - targets: ['$METRICS_ADDR']
	EOF
	prometheus --config.file="$TEST_DIR/prom/prometheus.yml" --storage.tsdb.path="$TEST_DIR/prom/data" \
		--web.listen-address="$PROM_ADDR" --log.level=warn \
		>>"$TEST_DIR/prometheus.log" 2>&1 3>&- </dev/null &
	record_pid prometheus $!
	wait_for -t 20 prom_api /-/ready >/dev/null ||
		fail "prometheus did not start: $(tail -n 20 "$TEST_DIR/prometheus.log")"
}

# prom_api PATH: GET from Prometheus's HTTP API; prints the body.
prom_api() {
	$PY - "http://$PROM_ADDR$1" <<-'EOF'
		import sys, urllib.request
		with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
		    sys.stdout.write(r.read().decode())
	EOF
}

# prom_value EXPR: the value of the one series EXPR selects now, or "none".
prom_value() {
	$PY - "http://$PROM_ADDR" "$1" <<-'EOF'
		import json, sys, urllib.parse, urllib.request
		url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
		with urllib.request.urlopen(url, timeout=5) as r:
		    res = json.load(r)["data"]["result"]
		assert len(res) <= 1, res
		print("%.17g" % float(res[0]["value"][1]) if res else "none")
	EOF
}

# prom_rules_ok: the four shipped rules are loaded, each evaluated at
# least once, without error.
prom_rules_ok() {
	prom_api /api/v1/rules | $PY -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
assert len(rules) == 4, rules
for r in rules:
    assert r["health"] == "ok", r
    assert not r["lastEvaluation"].startswith("0001"), r
'
}

# prom_alert_state ALERT SHARD STATE: Prometheus has that alert in STATE.
prom_alert_state() {
	prom_api /api/v1/alerts | $PY -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(a["labels"].get("alertname") == sys.argv[1] and a["labels"].get("shard") == sys.argv[2]
                  and a["state"] == sys.argv[3] for a in alerts) else "alerts: %s" % alerts)
' "$@"
}

# prom_is EXPR VALUE: for wait_for.
prom_is() {
	local v

	v=$(prom_value "$1") || return 1
	[[ $v == "$2" ]] || {
		echo "$1 is $v, not $2"
		return 1
	}
}

setup() {
	common_setup
	command -v prometheus >/dev/null || fail "prometheus is not installed (script/bootstrap installs it)"
	redis_start r
	conf_base
	conf_metrics
	# No flush but the forced one: the counts are the test's.
	conf_shard a "unix:$(redis_sock r)" "flush_when_at_least_bytes = 1TiB"
	daemon_start
	wait_for shard_is a state connected
}

teardown() {
	common_teardown
}

@test "Prometheus stores exactly what the daemon did, and used_memory as Redis's INFO within 20%" {
	local st n want v
	put_keys r 1 3000
	wait_for shard_is a tracked_entries 3000
	run flush_req a 1000
	assert_output --partial '"flushed":1000'
	run redis_cli r dbsize
	assert_output 2000
	prom_start
	# A scrape after the flush reaches Prometheus within a few seconds.
	wait_for -t 15 prom_is 'gcs_flushd_flushed_entries_total{shard="a"}' 1000
	st=$(status_json)
	for pair in tracked_entries:2000 archived_entries_total:1000 flush_cycles_total:1 already_gone_total:0 \
		last_flush_entries:1000 shard_up:1; do
		n=${pair%%:*}
		want=${pair#*:}
		run prom_value "gcs_flushd_${n}{shard=\"a\",job=\"gcs-flushd\"}"
		assert_output "$want"
	done
	# The histograms saw that one cycle and every chunk command of it.
	run prom_value 'gcs_flushd_flush_cycle_duration_seconds_count{shard="a"}'
	assert_output 1
	run prom_value 'gcs_flushd_chunk_roundtrip_seconds_count{shard="a"}'
	assert_output "$(json_eval "j['shards'][0]['chunk_roundtrip_s']['count']" <<<"$st")"
	run prom_value 'gcs_flushd_chunk_roundtrip_seconds_bucket{shard="a",le="+Inf"}'
	assert_output "$(json_eval "j['shards'][0]['chunk_roundtrip_s']['count']" <<<"$st")"
	run prom_value "gcs_flushd_build_info{version=\"$(json_eval "j['version']" <<<"$st")\"}"
	assert_output 1
	# used_memory, as Prometheus has it and as Redis says at that moment.
	v=$(prom_value 'gcs_flushd_used_memory_bytes{shard="a"}')
	n=$(redis_cli r info memory | tr -d '\r' | sed -n 's/^used_memory://p')
	[[ $v != none && -n $n ]] || fail "no used_memory: prometheus $v, redis $n"
	$PY -c "import sys; v, n = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(v - n) <= 0.2 * n else 1)" \
		"$v" "$n" || fail "prometheus has used_memory $v, redis says $n"
}

@test "the shipped rules evaluate cleanly on the real series; a shard that goes down shows, and its alert starts" {
	prom_start
	# Every rule evaluated, without error, over the daemon's own series.
	wait_for -t 15 prom_rules_ok
	wait_for -t 10 prom_is 'gcs_flushd_shard_up{shard="a"}' 1
	redis_stop r
	wait_for -t 15 prom_is 'gcs_flushd_shard_up{shard="a"}' 0
	# GcsFlushdShardDown waits 2 minutes before it fires: it is pending.
	wait_for -t 10 prom_alert_state GcsFlushdShardDown a pending
}
