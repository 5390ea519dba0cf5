# shellcheck shell=bash disable=SC2154
# metrics.bash: helpers for the /metrics suites (metrics.bats,
# prometheus.bats): a free port for metrics_listen and a small HTTP client.

# test_port: a free TCP port on 127.0.0.1, never a well-known one that a
# system service may want (Redis's 6379, Prometheus's 9090).
test_port() {
	local p i

	for ((i = 0; i < 10; i++)); do
		p=$(free_port)
		[[ $p == 6379 || $p == 9090 ]] || break
	done
	echo "$p"
}

# conf_metrics [ADDR]: puts metrics_listen = ADDR (default 127.0.0.1 at a
# free port, saved in $METRICS_ADDR) into the [daemon] section of $CONF.
conf_metrics() {
	METRICS_ADDR=${1:-127.0.0.1:$(test_port)}
	sed -i "s|^\[daemon\]\$|[daemon]\nmetrics_listen = $METRICS_ADDR|" "$CONF"
	export METRICS_ADDR
}

# http_req ADDR REQUEST [SECS]: sends REQUEST (with backslash escapes such
# as \r\n and \0 decoded) and prints what came back: the status line,
# then a blank line and the body; or CLOSED.
http_req() {
	$PY - "$@" <<-'EOF'
		import socket, sys
		host, port = sys.argv[1].rsplit(":", 1)
		data = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
		s = socket.create_connection((host.strip("[]"), int(port)), timeout=float(sys.argv[3]) if len(sys.argv) > 3 else 10)
		s.sendall(data)
		got = b""
		try:
		    while True:
		        b = s.recv(65536)
		        if not b:
		            break
		        got += b
		except ConnectionResetError:
		    pass
		if not got:
		    print("CLOSED")
		    sys.exit(0)
		head, _, body = got.partition(b"\r\n\r\n")
		print(head.split(b"\r\n")[0].decode())
		print()
		sys.stdout.write(body.decode("utf-8", "replace"))
	EOF
}

# metrics_get [ADDR]: the body of GET /metrics; fails unless 200.
metrics_get() {
	$PY - "${1:-$METRICS_ADDR}" <<-'EOF'
		import sys, urllib.request
		with urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10) as r:
		    assert r.status == 200, r.status
		    ctype = r.headers["Content-Type"]
		    assert ctype.startswith("text/plain; version=0.0.4"), ctype
		    sys.stdout.write(r.read().decode())
	EOF
}

metrics_answers() {
	metrics_get "$@" >/dev/null
}

# port_listens PORT: something accepts connections on 127.0.0.1:PORT.
port_listens() {
	$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)' "$1"
}
