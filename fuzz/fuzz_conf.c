/* fuzz_conf: a config file, loaded with conf_load() (the pre-pass, inih,
 * the value syntaxes of parse.c, validation; a password_file in the input
 * makes it read that file, which is fine).
 *
 * - A refused file gets errors only, each one line "FILE:LINE: ..." with
 *   LINE from 1 to the file's line count.
 * - An accepted file gets no errors, and round-trips: every value written
 *   back with conf_format_value() ("-t" and status show them that way)
 *   into a new file loads to the same settings, sources and secrets.
 *
 * The file's mode follows the input's size (even: 0600, odd: 0644), so
 * that both sides of the "password in a file readable by others" check
 * are reached. */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include "conf.h"
#include "fuzz.h"
#include "log.h"

static int conf_fd = -1, back_fd = -1;
static char conf_path[64], back_path[64];

static void set_file(int fd, const void *data, size_t size, mode_t mode)
{
	const char *p = data;
	off_t off = 0;

	if (ftruncate(fd, 0) < 0 || fchmod(fd, mode) < 0)
		abort();
	while (size > 0) {
		ssize_t n = pwrite(fd, p, size, off);

		if (n <= 0)
			abort();
		p += n, off += n, size -= (size_t)n;
	}
}

static int memfd(const char *name, char *path, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

static void check_errors(const struct buf *errors, const char *path, const uint8_t *data, size_t size)
{
	size_t lines = 1, plen = strlen(path);
	const char *p = errors->data, *end = errors->data + errors->len;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(errors->len > 0 && end[-1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char *q;
		unsigned long line;

		FUZZ_CHECK(nl != NULL);
		FUZZ_CHECK(strncmp(p, path, plen) == 0 && p[plen] == ':');
		line = strtoul(p + plen + 1, &q, 10);
		FUZZ_CHECK(q > p + plen + 1 && q[0] == ':' && q[1] == ' ');
		FUZZ_CHECK(line >= 1 && line <= lines);
		p = nl + 1;
	}
}

/* "key =value": a value may start with ';', which is a comment after a
 * space (inih's inline comments) but not right after the '='. */
static void put_key(struct buf *b, const struct conf_key *k, const void *base)
{
	buf_printf(b, "%s =", k->name);
	conf_format_value(k, base, b);
	buf_putc(b, '\n');
}

/* A loaded password lives only in the shard's secret; the key is wiped. */
static void put_shard_key(struct buf *b, const struct conf_key *k, const struct shard_conf *s)
{
	if ((k->flags & CK_SECRET) && s->secret != NULL && *s->password == '\0')
		buf_printf(b, "%s =%s\n", k->name, secret_str(s->secret));
	else
		put_key(b, k, s);
}

/* The config as text, keys in the sections that set them. */
static void write_back(const struct conf *c, struct buf *b)
{
	size_t nkeys;
	const struct conf_key *keys = conf_keys(&nkeys);

	buf_puts(b, "[daemon]\n");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].scope == CS_DAEMON && c->key_line[i] != 0)
			put_key(b, &keys[i], c);
	buf_puts(b, "[policy]\n");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].scope == CS_POLICY && c->policy.key_line[i] != 0)
			put_key(b, &keys[i], &c->policy);
	for (size_t s = 0; s < c->nshards; s++) {
		buf_printf(b, "[shard:%s]\n", c->shards[s]->name);
		for (size_t i = 0; i < nkeys; i++)
			if (keys[i].scope != CS_DAEMON && c->shards[s]->key_line[i] != 0)
				put_shard_key(b, &keys[i], c->shards[s]);
	}
}

static void same_value(const struct conf_key *k, const void *a, const void *b)
{
	struct buf x, y;

	buf_init(&x);
	buf_init(&y);
	conf_format_value(k, a, &x);
	conf_format_value(k, b, &y);
	if (x.len != y.len || memcmp(x.data, y.data, x.len) != 0) {
		fprintf(stderr, "%s: '%s' came back as '%s'\n", k->name, x.data, y.data);
		FUZZ_CHECK(!"a value survives the round trip");
	}
	buf_free(&x);
	buf_free(&y);
}

static bool same_str(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static void check_same(const struct conf *a, const struct conf *b)
{
	size_t nkeys;
	const struct conf_key *keys = conf_keys(&nkeys);

	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].scope == CS_DAEMON)
			same_value(&keys[i], a, b);
		else
			same_value(&keys[i], &a->policy, &b->policy);
	}
	FUZZ_CHECK(a->nshards == b->nshards);
	for (size_t s = 0; s < a->nshards; s++) {
		const struct shard_conf *x = a->shards[s], *y = b->shards[s];

		FUZZ_CHECK(strcmp(x->name, y->name) == 0);
		for (size_t i = 0; i < nkeys; i++) {
			if (keys[i].scope == CS_DAEMON)
				continue;
			same_value(&keys[i], x, y);
			FUZZ_CHECK(x->source[i] == y->source[i]);
		}
		FUZZ_CHECK(secret_equal(x->secret, y->secret));
		FUZZ_CHECK(x->addr.is_unix == y->addr.is_unix && x->addr.port == y->addr.port);
		FUZZ_CHECK(same_str(x->addr.host, y->addr.host) && same_str(x->addr.path, y->addr.path));
		FUZZ_CHECK(conf_shard_equal(x, y) && conf_shard_conn_equal(x, y));
		FUZZ_CHECK(conf_shard_find(b, x->name) == y);
	}
}

/* What validation promises the daemon about an accepted config. */
static bool valid_name_and_address(const struct conf *c)
{
	if (c->control_socket[0] == '\0' || strlen(c->control_socket) > 107 || c->state_dir[0] != '/')
		return false;
	for (size_t s = 0; s < c->nshards; s++) {
		const struct shard_conf *x = c->shards[s];
		size_t n = strlen(x->name);

		if (n < 1 || n > CONF_MAX_SHARD_NAME || strspn(x->name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != n)
			return false;
		if (x->addr.is_unix ? x->addr.path == NULL || x->addr.path[0] != '/'
		    : x->addr.host == NULL || x->addr.port < 1 || x->addr.port > 65535)
			return false;
		if (strspn(x->match, " \t") == strlen(x->match))
			return false;
	}
	return true;
}

static void check_accepted(const struct conf *c, mode_t mode)
{
	struct buf text, errors;
	struct conf *again;

	FUZZ_CHECK(valid_name_and_address(c));
	buf_init(&text);
	buf_init(&errors);
	write_back(c, &text);
	set_file(back_fd, text.data, text.len, mode);
	again = conf_load(back_path, &errors);
	if (again == NULL) {
		fprintf(stderr, "written back:\n%s\nrefused:\n%s", text.data, errors.data);
		FUZZ_CHECK(!"the config written back loads");
	}
	check_same(c, again);
	conf_free(again);
	buf_free(&errors);
	buf_free(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf errors;
	struct conf *c;
	mode_t mode = size & 1 ? 0644 : 0600;

	if (conf_fd < 0) {
		log_set_level(LOG_LVL_ERROR);
		conf_fd = memfd("fuzz.conf", conf_path, sizeof(conf_path));
		back_fd = memfd("back.conf", back_path, sizeof(back_path));
	}
	if (size > (1 << 20))	/* conf_load refuses larger files */
		return 0;
	set_file(conf_fd, data, size, mode);
	buf_init(&errors);
	c = conf_load(conf_path, &errors);
	if (c == NULL) {
		check_errors(&errors, conf_path, data, size);
	} else {
		FUZZ_CHECK(errors.len == 0);
		check_accepted(c, mode);
		conf_free(c);
	}
	buf_free(&errors);
	return 0;
}
