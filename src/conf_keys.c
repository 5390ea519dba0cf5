/* conf_keys: the one table of configuration keys, and the values it
 * describes: parsing one value, defaults, copies, comparison and the text
 * form.  Reading a file (conf.c), the -t check, the settings in status and
 * the documentation check all walk this table, so a key is added here and
 * nowhere else.  Nothing here reads files. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_keys.h"
#include "log.h"
#include "secret.h"
#include "tls.h"

#define D(f) offsetof(struct conf, f)
#define S(f) offsetof(struct shard_conf, f)
#define NOLIMIT 0, 0

static const struct conf_key conf_table[] = {
	{"control_socket", CS_DAEMON, CT_STR, D(control_socket), "/run/gcs-flushd/control.sock", NOLIMIT,
	 CK_RESTART, "path of the UNIX control socket"},
	{"control_socket_mode", CS_DAEMON, CT_MODE, D(control_socket_mode), "0660", 0, 0777,
	 CK_RESTART, "file mode of the control socket (octal)"},
	{"control_socket_group", CS_DAEMON, CT_STR, D(control_socket_group), "", NOLIMIT,
	 CK_RESTART, "group owning the control socket; empty: the daemon's own group"},
	{"control_admin", CS_DAEMON, CT_STR, D(control_admin), "group", NOLIMIT,
	 0, "who may flush, pause, resume and reload: root, group or anyone"},
	{"state_dir", CS_DAEMON, CT_STR, D(state_dir), "/var/lib/gcs-flushd", NOLIMIT,
	 CK_RESTART, "directory for the daemon's persistent state"},
	{"metrics_listen", CS_DAEMON, CT_STR, D(metrics_listen), "", NOLIMIT,
	 0, "ADDRESS:PORT serving Prometheus metrics (GET /metrics); empty: off"},
	{"log_level", CS_DAEMON, CT_LOGLEVEL, D(log_level), "info", NOLIMIT,
	 0, "error, warning, notice, info or debug"},

	{"flush_when_at_least_bytes", CS_POLICY, CT_SIZE, S(flush_when_at_least_bytes), "2GiB", NOLIMIT,
	 0, "no flushing while used_memory is below this"},
	{"flush_period_secs", CS_POLICY, CT_SECS, S(flush_period_secs), "10", 0.01, 86400,
	 0, "at most one flush per period; also the INFO memory interval"},
	{"flush_num_entries_each_time", CS_POLICY, CT_UINT, S(flush_num_entries_each_time), "10000", 1, 1e9,
	 0, "at most this many entries per flush"},
	{"flush_mode", CS_POLICY, CT_ENUM, S(flush_mode), "batch", NOLIMIT,
	 0, "batch (Ray's: N entries per period) or hold (hold used_memory at the threshold)"},
	{"hold_interval_secs", CS_POLICY, CT_SECS, S(hold_interval_secs), "0.1", 0.01, 60,
	 0, "in hold mode, how often used_memory is read and the flush corrected"},
	{"flush_max_entries_per_sec", CS_POLICY, CT_UINT, S(flush_max_entries_per_sec), "0", 0, 1e9,
	 0, "an optional cap on the entries a flush deletes per second; 0 means none"},
	{"flush_server_budget", CS_POLICY, CT_SHARE, S(flush_server_budget), "10%", 0, 1,
	 0, "the share of each second a flush's commands may keep the server busy; off: no budget"},
	{"match", CS_POLICY, CT_STR, S(match), "*", NOLIMIT,
	 0, "space-separated glob patterns of the keys that are entries"},
	{"archive", CS_POLICY, CT_BOOL, S(archive), "yes", NOLIMIT,
	 0, "archive every entry before deleting it"},
	{"archive_max_bytes", CS_POLICY, CT_SIZE, S(archive_max_bytes), "0", NOLIMIT,
	 0, "delete the oldest archive segments beyond this total; 0 keeps all"},
	{"archive_max_age", CS_POLICY, CT_SECS, S(archive_max_age), "0", 0, 3153600000.0,
	 0, "delete archive segments older than this (s, m, h or d); 0 keeps all"},
	{"archive_segment_bytes", CS_POLICY, CT_SIZE, S(archive_segment_bytes), "64MiB", 4096, 1099511627776.0,
	 0, "start a new archive segment file beyond this size"},
	{"policy_key", CS_POLICY, CT_STR, S(policy_key), "", NOLIMIT,
	 0, "Redis hash whose fields override the policy at run time"},
	{"connect_timeout_secs", CS_POLICY, CT_SECS, S(connect_timeout_secs), "5", 0.01, 3600,
	 0, "give up a connection attempt after this long"},
	{"command_timeout_secs", CS_POLICY, CT_SECS, S(command_timeout_secs), "5", 0.01, 3600,
	 0, "drop the connection when a reply takes longer than this"},
	{"reconnect_max_secs", CS_POLICY, CT_SECS, S(reconnect_max_secs), "30", 0.01, 86400,
	 0, "cap of the exponential reconnect backoff"},

	{"address", CS_SHARD, CT_STR, S(address), "", NOLIMIT,
	 CK_CONNECT, "one server: host:port, [v6addr]:port or unix:/path"},
	{"cluster", CS_SHARD, CT_STR, S(cluster), "", NOLIMIT,
	 CK_CONNECT, "a Redis Cluster: space-separated seed nodes, host:port"},
	{"sentinels", CS_SHARD, CT_STR, S(sentinels), "", NOLIMIT,
	 CK_CONNECT, "a Sentinel-managed master: space-separated sentinels, host:port"},
	{"sentinel_master", CS_SHARD, CT_STR, S(sentinel_master), "", NOLIMIT,
	 CK_CONNECT, "the master's name at the sentinels"},
	{"sentinel_username", CS_SHARD, CT_STR, S(sentinel_username), "", NOLIMIT,
	 CK_CONNECT, "ACL user name at the sentinels"},
	{"sentinel_password_file", CS_SHARD, CT_STR, S(sentinel_password_file), "", NOLIMIT,
	 CK_CONNECT, "file whose first line is the sentinels' password"},
	{"db", CS_SHARD, CT_UINT, S(db), "0", 0, 2147483647,
	 CK_CONNECT, "database number"},
	{"username", CS_SHARD, CT_STR, S(username), "", NOLIMIT,
	 CK_CONNECT, "ACL user name"},
	{"password", CS_SHARD, CT_STR, S(password), "", NOLIMIT,
	 CK_CONNECT | CK_SECRET, "password; the file must then not be readable by others"},
	{"password_file", CS_SHARD, CT_STR, S(password_file), "", NOLIMIT,
	 CK_CONNECT, "file whose first line is the password"},
	{"tls", CS_SHARD, CT_BOOL, S(tls), "no", NOLIMIT,
	 CK_CONNECT, "connect with TLS, always verifying the server's certificate"},
	{"tls_ca_file", CS_SHARD, CT_STR, S(tls_ca_file), "", NOLIMIT,
	 CK_CONNECT, "PEM bundle of the CAs to trust; empty: the system's trust store"},
	{"tls_cert_file", CS_SHARD, CT_STR, S(tls_cert_file), "", NOLIMIT,
	 CK_CONNECT, "PEM client certificate, for servers with tls-auth-clients"},
	{"tls_key_file", CS_SHARD, CT_STR, S(tls_key_file), "", NOLIMIT,
	 CK_CONNECT, "PEM key of tls_cert_file; must not be readable by others"},
	{"tls_server_name", CS_SHARD, CT_STR, S(tls_server_name), "", NOLIMIT,
	 CK_CONNECT, "name (or IP address) to verify and send as SNI; empty: the address's host"},
};

#undef D
#undef S

_Static_assert(ARRAY_SIZE(conf_table) <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS");

static const char *const source_names[] = {"default", "config", "shard", "runtime"};

/* The words of each CT_ENUM key, in the order of their values (the enum
 * beside the key's field in conf.h).  A key's type and bounds live in the
 * table above; its words here, so that the table keeps one shape. */
static const char *const flush_mode_words[] = {"batch", "hold", NULL};

static const struct {
	const char *key;
	const char *const *words;
} enum_words[] = {
	{"flush_mode", flush_mode_words},
};

const char *const *conf_enum_words(const struct conf_key *k)
{
	for (size_t i = 0; k->type == CT_ENUM && i < ARRAY_SIZE(enum_words); i++)
		if (strcmp(enum_words[i].key, k->name) == 0)
			return enum_words[i].words;
	return NULL;
}

/* A CT_ENUM key's words; one without any is a bug in the tables. */
static const char *const *words_of(const struct conf_key *k)
{
	const char *const *w = conf_enum_words(k);

	if (w == NULL)
		abort();
	return w;
}

const char *conf_enum_expected(const struct conf_key *k)
{
	static char msg[128];
	const char *const *w = words_of(k);
	size_t n = 0, len;

	while (w[n] != NULL)
		n++;
	len = (size_t)snprintf(msg, sizeof(msg), "expected");
	for (size_t i = 0; i < n && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s", i == 0 ? " " : i + 1 == n ? " or " : ", ",
					w[i]);
	return msg;
}

static int enum_parse(const struct conf_key *k, const char *text, int *out)
{
	const char *const *w = words_of(k);

	for (int i = 0; w[i] != NULL; i++) {
		if (strcmp(w[i], text) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

const struct conf_key *conf_keys(size_t *n)
{
	*n = ARRAY_SIZE(conf_table);
	return conf_table;
}

const struct conf_key *conf_key_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (strcmp(conf_table[i].name, name) == 0)
			return &conf_table[i];
	return NULL;
}

const char *conf_source_name(enum conf_source src)
{
	return (size_t)src < ARRAY_SIZE(source_names) ? source_names[src] : "?";
}

size_t conf_key_index(const struct conf_key *k)
{
	return (size_t)(k - conf_table);
}


void *conf_field(const void *base, const struct conf_key *k)
{
	return (char *)base + k->offset;
}

/* Frees a string slot, wiping it first if the key holds a secret. */
static void free_str(const struct conf_key *k, char **slot)
{
	if (*slot != NULL && (k->flags & CK_SECRET))
		secret_wipe(*slot, strlen(*slot));
	free(*slot);
	*slot = NULL;
}

/* Parses text into the key's slot; on error leaves the slot alone. */
int conf_set_value(const struct conf_key *k, void *base, const char *text, const char **err)
{
	void *slot = conf_field(base, k);
	uint64_t u;
	double d;
	bool b;
	int lvl, word;

	switch (k->type) {
	case CT_STR:
		free_str(k, slot);
		*(char **)slot = xstrdup(text);
		return 0;
	case CT_SIZE:
	case CT_UINT:
		if ((k->type == CT_SIZE ? parse_size(text, &u, err) : parse_uint(text, &u, err)) < 0)
			return -1;
		if ((k->min != 0 || k->max != 0) && ((double)u < k->min || (double)u > k->max)) {
			*err = "value out of range";
			return -1;
		}
		*(uint64_t *)slot = u;
		return 0;
	case CT_SECS:
		if (parse_secs(text, &d, err) < 0)
			return -1;
		if (d < k->min || d > k->max) {
			*err = "value out of range";
			return -1;
		}
		*(double *)slot = d;
		return 0;
	case CT_BOOL:
		if (parse_bool(text, &b, err) < 0)
			return -1;
		*(bool *)slot = b;
		return 0;
	case CT_LOGLEVEL:
		if ((lvl = log_level_parse(text)) < 0) {
			*err = "expected error, warning, notice, info or debug";
			return -1;
		}
		*(int *)slot = lvl;
		return 0;
	case CT_ENUM:
		if (enum_parse(k, text, &word) < 0) {
			*err = conf_enum_expected(k);
			return -1;
		}
		*(int *)slot = word;
		return 0;
	case CT_SHARE:
		if (parse_share(text, &d, err) < 0)
			return -1;
		*(double *)slot = d;
		return 0;
	case CT_MODE: {
		char *end;
		unsigned long m = strtoul(text, &end, 8);

		if (*text == '\0' || *end != '\0' || m > (unsigned long)k->max) {
			*err = "expected an octal file mode such as 0660";
			return -1;
		}
		*(uint64_t *)slot = m;
		return 0;
	}
	}
	*err = "unknown type";
	return -1;
}

/* Copies key k's value from one struct to another of the same kind. */
void conf_copy_value(const struct conf_key *k, void *dst, const void *src)
{
	if (k->type == CT_STR) {
		char **d = conf_field(dst, k);

		free_str(k, d);
		*d = xstrdup(*(char **)conf_field(src, k));
		return;
	}
	switch (k->type) {
	case CT_SIZE: case CT_UINT: case CT_MODE:
		*(uint64_t *)conf_field(dst, k) = *(uint64_t *)conf_field(src, k);
		break;
	case CT_SECS: case CT_SHARE:
		*(double *)conf_field(dst, k) = *(double *)conf_field(src, k);
		break;
	case CT_BOOL:
		*(bool *)conf_field(dst, k) = *(bool *)conf_field(src, k);
		break;
	case CT_LOGLEVEL: case CT_ENUM:
		*(int *)conf_field(dst, k) = *(int *)conf_field(src, k);
		break;
	case CT_STR:
		break;
	}
}

bool conf_value_equal(const struct conf_key *k, const void *a, const void *b)
{
	switch (k->type) {
	case CT_STR:
		return strcmp(*(char **)conf_field(a, k), *(char **)conf_field(b, k)) == 0;
	case CT_SIZE: case CT_UINT: case CT_MODE:
		return *(uint64_t *)conf_field(a, k) == *(uint64_t *)conf_field(b, k);
	case CT_SECS: case CT_SHARE:
		return *(double *)conf_field(a, k) == *(double *)conf_field(b, k);
	case CT_BOOL:
		return *(bool *)conf_field(a, k) == *(bool *)conf_field(b, k);
	case CT_LOGLEVEL: case CT_ENUM:
		return *(int *)conf_field(a, k) == *(int *)conf_field(b, k);
	}
	return false;
}

void conf_format_value(const struct conf_key *k, const void *base, struct buf *out)
{
	switch (k->type) {
	case CT_STR:
		buf_puts(out, *(char **)conf_field(base, k));
		break;
	case CT_SIZE: case CT_UINT:
		buf_printf(out, "%llu", (unsigned long long)*(uint64_t *)conf_field(base, k));
		break;
	case CT_MODE:
		buf_printf(out, "%04llo", (unsigned long long)*(uint64_t *)conf_field(base, k));
		break;
	case CT_SECS:
		buf_printf(out, "%g", *(double *)conf_field(base, k));
		break;
	case CT_SHARE:
		if (*(double *)conf_field(base, k) == 0)
			buf_puts(out, "off");
		else
			buf_printf(out, "%g%%", *(double *)conf_field(base, k) * 100);
		break;
	case CT_BOOL:
		buf_puts(out, *(bool *)conf_field(base, k) ? "yes" : "no");
		break;
	case CT_LOGLEVEL:
		buf_puts(out, log_level_name((enum log_level) * (int *)conf_field(base, k)));
		break;
	case CT_ENUM:
		buf_puts(out, words_of(k)[*(int *)conf_field(base, k)]);
		break;
	}
}

/* Fills every key of the given scopes with its default. */
void conf_set_defaults(void *base, enum conf_scope a, enum conf_scope b)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++) {
		const struct conf_key *k = &conf_table[i];
		const char *err;

		if (k->scope != a && k->scope != b)
			continue;
		if (conf_set_value(k, base, k->def ? k->def : "", &err) < 0)
			abort();	/* a bad default is a programming error */
	}
}

void conf_shard_conf_free(struct shard_conf *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (conf_table[i].type == CT_STR && conf_table[i].scope != CS_DAEMON)
			free_str(&conf_table[i], conf_field(s, &conf_table[i]));
	free(s->name);
	secret_free(s->secret);
	tls_ctx_unref(s->tls_ctx);
	secret_free(s->sentinel_secret);
	parse_addr_free(&s->addr);
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (conf_table[i].type == CT_STR && conf_table[i].scope == CS_DAEMON)
			free_str(&conf_table[i], conf_field(c, &conf_table[i]));
	for (size_t i = 0; i < c->nshards; i++) {
		conf_shard_conf_free(c->shards[i]);
		free(c->shards[i]);
	}
	free(c->shards);
	conf_shard_conf_free(&c->policy);
	free(c->path);
	free(c);
}

struct shard_conf *conf_shard_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nshards; i++)
		if (strcmp(c->shards[i]->name, name) == 0)
			return c->shards[i];
	return NULL;
}

static bool shard_equal(const struct shard_conf *a, const struct shard_conf *b, unsigned need_flags)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++) {
		const struct conf_key *k = &conf_table[i];

		if (k->scope == CS_DAEMON || (k->flags & need_flags) != need_flags)
			continue;
		if (!conf_value_equal(k, a, b))
			return false;
	}
	/* The files' contents too: a renewed certificate is a new connection. */
	return secret_equal(a->secret, b->secret) && secret_equal(a->sentinel_secret, b->sentinel_secret) &&
	       tls_ctx_equal(a->tls_ctx, b->tls_ctx);
}

bool conf_shard_equal(const struct shard_conf *a, const struct shard_conf *b)
{
	return shard_equal(a, b, 0);
}

bool conf_shard_conn_equal(const struct shard_conf *a, const struct shard_conf *b)
{
	return shard_equal(a, b, CK_CONNECT);
}

/* A shard's own copy: the parts that keep a shard's settings hold values,
 * never a pointer into a config that a reload frees. */
struct shard_conf *conf_shard_dup(const struct shard_conf *s)
{
	struct shard_conf *d = xcalloc(1, sizeof(*d));
	const char *err;

	d->name = xstrdup(s->name);
	d->line = s->line;
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++) {
		if (conf_table[i].scope == CS_DAEMON)
			continue;
		conf_copy_value(&conf_table[i], d, s);
	}
	/* A loaded config's address parsed once already. */
	if (*d->address && parse_address(d->address, &d->addr, &err) < 0)
		abort();
	if (s->secret != NULL)
		d->secret = secret_new(secret_str(s->secret), strlen(secret_str(s->secret)));
	d->tls_ctx = tls_ctx_ref(s->tls_ctx);
	if (s->sentinel_secret != NULL)
		d->sentinel_secret = secret_new(secret_str(s->sentinel_secret), strlen(secret_str(s->sentinel_secret)));
	memcpy(d->source, s->source, sizeof(d->source));
	memcpy(d->key_line, s->key_line, sizeof(d->key_line));
	return d;
}

void conf_shard_free(struct shard_conf *s)
{
	if (s == NULL)
		return;
	conf_shard_conf_free(s);
	free(s);
}

/* A reload cannot apply these: they keep their running values, walked
 * from the table rather than listed by hand. */
void conf_keep_restart_keys(struct conf *next, const struct conf *running)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (conf_table[i].flags & CK_RESTART)
			conf_copy_value(&conf_table[i], next, running);
}
