# shellcheck shell=bash disable=SC2154,SC2034
# tls.bash: certificates made with openssl for the TLS suites, and a
# redis-server that serves TLS on a free port of 127.0.0.1 and ::1 while
# the test's own tools (redis-cli, redis-py, gcs-loadgen) keep its plain
# UNIX socket.  Load it after helpers.
#
# tls_make_certs DIR makes, with P-256 keys (fast to make and to use):
#   ca.crt ca.key          the test CA
#   ca2.crt ca2.key        another CA, which signed nothing the server uses
#   server.crt server.key  for DNS:localhost, DNS:redis.test, IP:127.0.0.1,
#                          IP:::1, signed by the CA
#   expired.crt            the server's key, valid only in January 2020
#                          (openssl ca -startdate/-enddate: OpenSSL 3.0
#                          refuses x509 -days -1)
#   client.crt client.key  a client certificate (clientAuth), by the CA
#   client2.crt client2.key  another one, as a renewal would bring
# Keys are mode 0600: gcs-flushd refuses a key that others may read.

# _tls_key OUT: a new P-256 key.
_tls_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null &&
		chmod 600 "$1"
}

# _tls_sign DIR NAME CN EXT CA: NAME.crt for NAME.key, signed by CA.
_tls_sign() {
	local dir=$1 name=$2 cn=$3 ext=$4 ca=$5

	openssl req -new -key "$dir/$name.key" -subj "/CN=$cn" -out "$dir/$name.csr" 2>/dev/null &&
		printf '%s\n' "$ext" >"$dir/$name.ext" &&
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
			-CAcreateserial -days 30 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
}

tls_make_certs() {
	local dir=$1 ca

	mkdir -p "$dir/ca-db/new"
	for ca in ca ca2; do
		_tls_key "$dir/$ca.key" &&
			openssl req -x509 -new -key "$dir/$ca.key" -subj "/CN=gcs-flushd test $ca" -days 30 \
				-sha256 -addext basicConstraints=critical,CA:TRUE \
				-addext keyUsage=critical,keyCertSign,cRLSign -out "$dir/$ca.crt" 2>/dev/null ||
			fail "cannot make the test CA $ca"
	done
	_tls_key "$dir/server.key" &&
		_tls_sign "$dir" server redis.test \
			"subjectAltName=DNS:localhost,DNS:redis.test,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth" ca ||
		fail "cannot make the server certificate"
	for name in client client2; do
		_tls_key "$dir/$name.key" &&
			_tls_sign "$dir" "$name" gcs-flushd "extendedKeyUsage=clientAuth" ca ||
			fail "cannot make the client certificate $name"
	done
	# The expired one: the server's request again, dated in the past.
	: >"$dir/ca-db/index.txt"
	echo 1000 >"$dir/ca-db/serial"
	cat >"$dir/ca-db/ca.cnf" <<-EOF
		[ca]
		default_ca = test
		[test]
		database = $dir/ca-db/index.txt
		new_certs_dir = $dir/ca-db/new
		serial = $dir/ca-db/serial
		default_md = sha256
		policy = any
		unique_subject = no
		copy_extensions = copy
		[any]
		commonName = supplied
	EOF
	openssl ca -batch -config "$dir/ca-db/ca.cnf" -cert "$dir/ca.crt" -keyfile "$dir/ca.key" \
		-in "$dir/server.csr" -extfile "$dir/server.ext" -startdate 20200101000000Z \
		-enddate 20200201000000Z -out "$dir/expired.crt" >/dev/null 2>&1 ||
		fail "cannot make the expired certificate"
}

# redis_start_tls NAME [redis-server args]: a redis serving TLS with the
# server certificate on a free port ($TEST_DIR/NAME.tlsport, kept across a
# restart), no client certificate asked (args may say otherwise), and its
# plain UNIX socket for the test's tools.
redis_start_tls() {
	local name=$1 port

	shift
	rm -f "$TEST_DIR/$name.port"
	if [[ -f $TEST_DIR/$name.tlsport ]]; then
		port=$(<"$TEST_DIR/$name.tlsport")
	else
		port=$(free_port)
		[[ $port != 6379 ]] || port=$(free_port)
		echo "$port" >"$TEST_DIR/$name.tlsport"
	fi
	redis_spawn "$name" --port 0 --unixsocket "$(redis_sock "$name")" --unixsocketperm 700 \
		--bind 127.0.0.1 ::1 --tls-port "$port" --tls-cert-file "$CERTS/server.crt" \
		--tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" \
		--tls-auth-clients no "$@"
}

tls_port() {
	cat "$TEST_DIR/$1.tlsport"
}

# tls_shard NAME ADDRESS [key = value lines...]: a shard over TLS that
# trusts the test CA.
tls_shard() {
	local name=$1 addr=$2

	shift 2
	conf_shard "$name" "$addr" 'tls = yes' "tls_ca_file = $CERTS/ca.crt" "$@"
}
