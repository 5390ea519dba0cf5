/* tls: client contexts for TLS to Redis, sessions and their failures.
 *
 * A context is built when the config is loaded, from the files' contents
 * read once here (not from paths at connect time), so that:
 *  - gcs-flushd -t and a reload report a bad, mismatched or unreadable
 *    file at its config line, and a reload that fails keeps the running
 *    context: a half-written renewal never breaks working connections;
 *  - a reload sees a renewed certificate under an unchanged name (the
 *    digest of the contents differs) and reconnects only that shard;
 *  - what is verified against is exactly what was checked.
 * The private key's bytes are wiped as soon as OpenSSL has parsed them.
 *
 * Verification is never optional: SSL_VERIFY_PEER with the chain, and the
 * host name or IP address on every session; no plaintext fallback exists.
 *
 * Owns the contexts and their digests; knows nothing of sockets. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "secret.h"
#include "sha1.h"
#include "tls.h"
#include "util.h"

#define TLS_FILE_MAX (8 << 20)	/* a CA bundle is ~200 KB; refuse the absurd */

/* Where a session notes that the server asked for a client certificate
 * we do not have (SSL ex_data). */
static int cert_requested_idx = -1;

struct tls_ctx {
	int refs;
	SSL_CTX *ctx;
	unsigned char digest[SHA1_DIGEST_LEN];	/* of every file's contents */
};

/* ---- reading the files ------------------------------------------------------ */

/* Reads path whole into *data (NUL-terminated).  A key file must give no
 * access to others, as password files and the config's password do. */
static int read_file(const char *path, bool is_key, struct buf *data, char **err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TLS_FILE_MAX) {
		*err = xasprintf("%s: %s", path, S_ISREG(st.st_mode) ? "file larger than 8 MiB" : "not a regular file");
		close(fd);
		return -1;
	}
	if (is_key && (st.st_mode & (S_IROTH | S_IWOTH))) {
		*err = xasprintf("%s is accessible by others (mode %04o); run 'chmod o-rwx %s'", path,
				 (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	/* Sized up front: a growing buffer would leave copies of a key behind. */
	data->cap = (size_t)st.st_size + 1;
	data->data = xmalloc(data->cap);
	data->len = 0;
	while (data->len < (size_t)st.st_size) {
		ssize_t r = read(fd, data->data + data->len, (size_t)st.st_size - data->len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err = xasprintf("cannot read %s: %s", path, r < 0 ? strerror(errno) : "file shrank while reading");
			close(fd);
			return -1;
		}
		data->len += (size_t)r;
	}
	data->data[data->len] = '\0';
	close(fd);
	return 0;
}

/* The reason of OpenSSL's oldest queued error, and an empty queue. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

/* ---- building the context -------------------------------------------------- */

static int add_cas(SSL_CTX *ctx, const struct buf *pem, const char *path, char **err)
{
	BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
	STACK_OF(X509_INFO) *infos = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int n = 0;

	for (int i = 0; infos != NULL && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509 != NULL && X509_STORE_add_cert(store, xi->x509) == 1)
			n++;
	}
	if (n == 0)
		*err = xasprintf("%s: no CA certificate found (%s)", path, infos ? "expected PEM" : ossl_reason());
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(b);
	ERR_clear_error();
	return n > 0 ? 0 : -1;
}

/* The client certificate, then any intermediates after it in the file. */
static int use_cert(SSL_CTX *ctx, const struct buf *pem, const char *path, char **err)
{
	BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
	X509 *x = b ? PEM_read_bio_X509_AUX(b, NULL, NULL, NULL) : NULL;
	X509 *ca;

	if (x == NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
		*err = xasprintf("%s: no usable certificate (%s)", path, ossl_reason());
		X509_free(x);
		BIO_free(b);
		return -1;
	}
	X509_free(x);
	while ((ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, ca) != 1)
			X509_free(ca);
	ERR_clear_error();	/* the end of the file reads as "no start line" */
	BIO_free(b);
	return 0;
}

/* An encrypted key would need a passphrase nobody can type: refuse it. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int use_key(SSL_CTX *ctx, const struct buf *pem, const char *path, char **err)
{
	BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	int rc = -1;

	if (k == NULL)
		*err = xasprintf("%s: no usable private key (%s; encrypted keys are not supported)", path,
				 ossl_reason());
	else if (SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		*err = xasprintf("%s: the key does not match tls_cert_file (%s)", path, ossl_reason());
	else
		rc = 0;
	EVP_PKEY_free(k);
	BIO_free(b);
	return rc;
}

/* OpenSSL calls this when the server asks for a certificate and none is
 * configured.  We go on without one (a server may only want one), but say
 * so if the server then drops us: under TLS 1.3 its alert often arrives
 * behind a reset that discards it. */
static int note_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)x509;
	(void)pkey;
	SSL_set_ex_data(ssl, cert_requested_idx, ssl);
	return 0;
}

bool tls_cert_requested(const SSL *ssl)
{
	return cert_requested_idx >= 0 && SSL_get_ex_data(ssl, cert_requested_idx) != NULL;
}

static SSL_CTX *ctx_new(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* A server closing without close_notify is a plain EOF to us: RESP
	 * delimits its own replies, so nothing can be truncated unseen, and
	 * the loss reads "Server closed the connection" as over TCP. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
	/* libevent writes from its buffers, which may move between retries. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	return ctx;
}

static int load(SSL_CTX *ctx, const char *const files[TLS_NFILES], struct buf pem[TLS_NFILES],
		enum tls_file *bad, char **err)
{
	for (int i = 0; i < TLS_NFILES; i++) {
		*bad = (enum tls_file)i;
		if (files[i] != NULL && *files[i] && read_file(files[i], i == TLS_KEY, &pem[i], err) < 0)
			return -1;
	}
	*bad = TLS_CA;
	if (pem[TLS_CA].data != NULL ? add_cas(ctx, &pem[TLS_CA], files[TLS_CA], err) < 0
				     : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		if (pem[TLS_CA].data == NULL)
			*err = xasprintf("cannot load the system's trust store (%s)", ossl_reason());
		return -1;
	}
	*bad = TLS_CERT;
	if (pem[TLS_CERT].data != NULL && use_cert(ctx, &pem[TLS_CERT], files[TLS_CERT], err) < 0)
		return -1;
	*bad = TLS_KEY;
	if (pem[TLS_KEY].data != NULL && use_key(ctx, &pem[TLS_KEY], files[TLS_KEY], err) < 0)
		return -1;
	if (pem[TLS_CERT].data == NULL) {
		if (cert_requested_idx < 0)
			cert_requested_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		SSL_CTX_set_client_cert_cb(ctx, note_cert_request);
	}
	return 0;
}

struct tls_ctx *tls_ctx_new(const char *const files[TLS_NFILES], enum tls_file *bad, char **err)
{
	struct buf pem[TLS_NFILES] = {{0}};
	struct tls_ctx *t = NULL;
	struct sha1_ctx sha;
	SSL_CTX *ctx = ctx_new();
	int rc;

	*bad = TLS_CA;
	if (ctx == NULL) {
		*err = xasprintf("cannot create a TLS context (%s)", ossl_reason());
		return NULL;
	}
	rc = load(ctx, files, pem, bad, err);
	if (rc == 0) {
		t = xcalloc(1, sizeof(*t));
		t->refs = 1;
		t->ctx = ctx;
		sha1_init(&sha);
		for (int i = 0; i < TLS_NFILES; i++) {
			uint64_t len = pem[i].data ? pem[i].len : UINT64_MAX;

			sha1_update(&sha, &len, sizeof(len));	/* "" and no file differ */
			if (pem[i].data)
				sha1_update(&sha, pem[i].data, pem[i].len);
		}
		sha1_final(&sha, t->digest);
	} else {
		SSL_CTX_free(ctx);
	}
	for (int i = 0; i < TLS_NFILES; i++) {
		if (pem[i].data != NULL)
			secret_wipe(pem[i].data, pem[i].cap);
		free(pem[i].data);
	}
	return t;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void tls_ctx_unref(struct tls_ctx *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

bool tls_ctx_equal(const struct tls_ctx *a, const struct tls_ctx *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(a->digest, b->digest, sizeof(a->digest)) == 0;
}

/* ---- sessions ------------------------------------------------------------------ */

bool tls_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

SSL *tls_ssl_new(struct tls_ctx *t, const char *server_name, char **err)
{
	SSL *ssl = SSL_new(t->ctx);
	bool ok;

	if (ssl == NULL) {
		*err = xasprintf("TLS: cannot create a session (%s)", ossl_reason());
		return NULL;
	}
	if (tls_is_ip(server_name)) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name) == 1;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(ssl, server_name) == 1 && SSL_set_tlsext_host_name(ssl, server_name) == 1;
	}
	if (!ok) {
		*err = xasprintf("TLS: cannot verify against '%s' (%s)", server_name, ossl_reason());
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

char *tls_describe(const SSL *ssl, unsigned long err, int sys_errno)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	const char *r;

	if (v != X509_V_OK)
		return xasprintf("TLS: certificate verify failed: %s", X509_verify_cert_error_string(v));
	if (err != 0 && (r = ERR_reason_error_string(err)) != NULL)
		return xasprintf("TLS: %s", r);
	if (err != 0)
		return xasprintf("TLS: error %lu", err);
	if (sys_errno != 0)
		return xasprintf("TLS: %s", strerror(sys_errno));
	return xstrdup("TLS: the handshake failed");
}
