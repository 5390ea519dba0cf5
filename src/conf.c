/* conf: the INI configuration.
 *
 * One table (conf_table) names every key with its scope, type, default and
 * bounds.  Parsing, defaults, validation, the -t check and the settings shown
 * in status all walk it, so a key is added in exactly one place.
 *
 * inih does the tokenising.  Before it runs, a pre-pass over the file finds
 * the section headers (so empty sections and duplicates are seen, with their
 * lines), rejects over-long lines, which inih would silently cut, and lines
 * that are neither a section, a key nor a comment. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "log.h"
#include "secret.h"

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
	{"log_level", CS_DAEMON, CT_LOGLEVEL, D(log_level), "info", NOLIMIT,
	 0, "error, warning, notice, info or debug"},

	{"flush_when_at_least_bytes", CS_POLICY, CT_SIZE, S(flush_when_at_least_bytes), "2GiB", NOLIMIT,
	 0, "no flushing while used_memory is below this"},
	{"flush_period_secs", CS_POLICY, CT_SECS, S(flush_period_secs), "10", 0.01, 86400,
	 0, "at most one flush per period; also the INFO memory interval"},
	{"flush_num_entries_each_time", CS_POLICY, CT_UINT, S(flush_num_entries_each_time), "10000", 1, 1e9,
	 0, "at most this many entries per flush"},
	{"flush_max_entries_per_sec", CS_POLICY, CT_UINT, S(flush_max_entries_per_sec), "100000", 0, 1e9,
	 0, "pacing within a flush; 0 means no limit"},
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

	{"address", CS_SHARD, CT_STR, S(address), NULL, NOLIMIT,
	 CK_REQUIRED | CK_CONNECT, "host:port, [v6addr]:port or unix:/path"},
	{"db", CS_SHARD, CT_UINT, S(db), "0", 0, 2147483647,
	 CK_CONNECT, "database number"},
	{"username", CS_SHARD, CT_STR, S(username), "", NOLIMIT,
	 CK_CONNECT, "ACL user name"},
	{"password", CS_SHARD, CT_STR, S(password), "", NOLIMIT,
	 CK_CONNECT | CK_SECRET, "password; the file must then not be readable by others"},
	{"password_file", CS_SHARD, CT_STR, S(password_file), "", NOLIMIT,
	 CK_CONNECT, "file whose first line is the password"},
};

#undef D
#undef S

_Static_assert(ARRAY_SIZE(conf_table) <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS");

static const char *const source_names[] = {"default", "config", "shard", "runtime"};

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

static size_t key_index(const struct conf_key *k)
{
	return (size_t)(k - conf_table);
}

/* ---- the parse state ----------------------------------------------------- */

struct section {
	char *name;		/* as written between the brackets */
	int line;
	struct shard_conf *shard;	/* NULL for [daemon] and [policy] */
};

struct parse {
	const char *path;
	struct conf *conf;
	struct buf *errors;
	int nerrors;
	struct section *sections;
	size_t nsections;
};

static void perr(struct parse *p, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void perr(struct parse *p, int line, const char *key, const char *fmt, ...)
{
	va_list ap;

	buf_printf(p->errors, "%s:%d: ", p->path, line);
	if (key != NULL)
		buf_printf(p->errors, "%s: ", key);
	va_start(ap, fmt);
	buf_vprintf(p->errors, fmt, ap);
	va_end(ap);
	buf_putc(p->errors, '\n');
	p->nerrors++;
}

static void *field(const void *base, const struct conf_key *k)
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
static int set_value(const struct conf_key *k, void *base, const char *text, const char **err)
{
	void *slot = field(base, k);
	uint64_t u;
	double d;
	bool b;
	int lvl;

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
static void copy_value(const struct conf_key *k, void *dst, const void *src)
{
	if (k->type == CT_STR) {
		char **d = field(dst, k);

		free_str(k, d);
		*d = xstrdup(*(char **)field(src, k));
		return;
	}
	switch (k->type) {
	case CT_SIZE: case CT_UINT: case CT_MODE:
		*(uint64_t *)field(dst, k) = *(uint64_t *)field(src, k);
		break;
	case CT_SECS:
		*(double *)field(dst, k) = *(double *)field(src, k);
		break;
	case CT_BOOL:
		*(bool *)field(dst, k) = *(bool *)field(src, k);
		break;
	case CT_LOGLEVEL:
		*(int *)field(dst, k) = *(int *)field(src, k);
		break;
	case CT_STR:
		break;
	}
}

static bool value_equal(const struct conf_key *k, const void *a, const void *b)
{
	switch (k->type) {
	case CT_STR:
		return strcmp(*(char **)field(a, k), *(char **)field(b, k)) == 0;
	case CT_SIZE: case CT_UINT: case CT_MODE:
		return *(uint64_t *)field(a, k) == *(uint64_t *)field(b, k);
	case CT_SECS:
		return *(double *)field(a, k) == *(double *)field(b, k);
	case CT_BOOL:
		return *(bool *)field(a, k) == *(bool *)field(b, k);
	case CT_LOGLEVEL:
		return *(int *)field(a, k) == *(int *)field(b, k);
	}
	return false;
}

void conf_format_value(const struct conf_key *k, const void *base, struct buf *out)
{
	switch (k->type) {
	case CT_STR:
		buf_puts(out, *(char **)field(base, k));
		break;
	case CT_SIZE: case CT_UINT:
		buf_printf(out, "%llu", (unsigned long long)*(uint64_t *)field(base, k));
		break;
	case CT_MODE:
		buf_printf(out, "%04llo", (unsigned long long)*(uint64_t *)field(base, k));
		break;
	case CT_SECS:
		buf_printf(out, "%g", *(double *)field(base, k));
		break;
	case CT_BOOL:
		buf_puts(out, *(bool *)field(base, k) ? "yes" : "no");
		break;
	case CT_LOGLEVEL:
		buf_puts(out, log_level_name((enum log_level) * (int *)field(base, k)));
		break;
	}
}

/* Fills every key of the given scopes with its default. */
static void set_defaults(void *base, enum conf_scope a, enum conf_scope b)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++) {
		const struct conf_key *k = &conf_table[i];
		const char *err;

		if (k->scope != a && k->scope != b)
			continue;
		if (set_value(k, base, k->def ? k->def : "", &err) < 0)
			abort();	/* a bad default is a programming error */
	}
}

static void shard_conf_free(struct shard_conf *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (conf_table[i].type == CT_STR && conf_table[i].scope != CS_DAEMON)
			free_str(&conf_table[i], field(s, &conf_table[i]));
	free(s->name);
	secret_free(s->secret);
	parse_addr_free(&s->addr);
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++)
		if (conf_table[i].type == CT_STR && conf_table[i].scope == CS_DAEMON)
			free_str(&conf_table[i], field(c, &conf_table[i]));
	for (size_t i = 0; i < c->nshards; i++) {
		shard_conf_free(c->shards[i]);
		free(c->shards[i]);
	}
	free(c->shards);
	shard_conf_free(&c->policy);
	free(c->path);
	free(c);
}

/* ---- pre-pass: lines and sections --------------------------------------- */

static bool valid_shard_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONF_MAX_SHARD_NAME)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

static void add_section(struct parse *p, const char *name, int line)
{
	struct section *sec;

	for (size_t i = 0; i < p->nsections; i++) {
		if (strcmp(p->sections[i].name, name) == 0) {
			perr(p, line, NULL, "duplicate section [%s] (first at line %d)", name, p->sections[i].line);
			return;
		}
	}
	p->sections = xrealloc(p->sections, (p->nsections + 1) * sizeof(*p->sections));
	sec = &p->sections[p->nsections++];
	sec->name = xstrdup(name);
	sec->line = line;
	sec->shard = NULL;
	if (strncmp(name, "shard:", 6) == 0) {
		struct conf *c = p->conf;
		struct shard_conf *s;

		if (!valid_shard_name(name + 6)) {
			perr(p, line, NULL, "bad shard name '%s': use 1 to %d letters, digits, '_', '-' or '.'",
			     name + 6, CONF_MAX_SHARD_NAME);
			return;
		}
		s = xcalloc(1, sizeof(*s));
		s->name = xstrdup(name + 6);
		s->line = line;
		c->shards = xrealloc(c->shards, (c->nshards + 1) * sizeof(*c->shards));
		c->shards[c->nshards++] = s;
		sec->shard = s;
	} else if (strcmp(name, "daemon") != 0 && strcmp(name, "policy") != 0) {
		perr(p, line, NULL, "unknown section [%s] (expected [daemon], [policy] or [shard:NAME])", name);
	}
}

/* Checks each line's shape and records the section headers, as inih will
 * see them: comments start with ';' or '#', sections with '['. */
static void prescan(struct parse *p, const char *text, size_t len)
{
	const char *line = text, *end = text + len;
	int lineno = 0;

	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		const char *s = line, *e = line + n;

		lineno++;
		if (n > CONF_MAX_LINE)
			perr(p, lineno, NULL, "line too long (%zu bytes; at most %d)", n, CONF_MAX_LINE);
		if (memchr(line, '\0', n) != NULL)
			perr(p, lineno, NULL, "NUL byte in line");
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
		if (s == e || *s == ';' || *s == '#') {
			/* blank or comment */
		} else if (*s == '[') {
			const char *close = memchr(s, ']', (size_t)(e - s));

			if (close == NULL) {
				perr(p, lineno, NULL, "section header without ']'");
			} else {
				char *name = xstrndup(s + 1, (size_t)(close - s - 1));

				add_section(p, name, lineno);
				free(name);
			}
		} else if (memchr(s, '=', (size_t)(e - s)) == NULL) {
			perr(p, lineno, NULL, "expected 'key = value', '[section]' or a comment");
		}
		line += n + 1;
	}
}

static struct section *find_section(struct parse *p, const char *name)
{
	for (size_t i = 0; i < p->nsections; i++)
		if (strcmp(p->sections[i].name, name) == 0)
			return &p->sections[i];
	return NULL;
}

/* ---- the inih handler ----------------------------------------------------- */

static int on_key(void *user, const char *section, const char *name, const char *value, int lineno)
{
	struct parse *p = user;
	struct section *sec = find_section(p, section);
	const struct conf_key *k = conf_key_find(name);
	void *base;
	int *lines;
	const char *err;
	bool in_daemon, in_policy;

	if (*section == '\0') {
		perr(p, lineno, name, "key outside of any section");
		return 1;
	}
	if (sec == NULL)	/* a bad or duplicate header, reported by the pre-pass */
		return 1;
	in_daemon = strcmp(section, "daemon") == 0;
	in_policy = strcmp(section, "policy") == 0;
	if (!in_daemon && !in_policy && sec->shard == NULL)
		return 1;
	if (k == NULL) {
		perr(p, lineno, name, "unknown key in [%s]", section);
		return 1;
	}
	if ((k->scope == CS_DAEMON) != in_daemon || (k->scope == CS_SHARD && sec->shard == NULL)) {
		perr(p, lineno, name, "not allowed in [%s] (it belongs in [%s])", section,
		     k->scope == CS_DAEMON ? "daemon" : k->scope == CS_SHARD ? "shard:NAME" : "policy] or [shard:NAME");
		return 1;
	}
	if (in_daemon) {
		base = p->conf;
		lines = p->conf->key_line;
	} else {
		base = in_policy ? &p->conf->policy : sec->shard;
		lines = ((struct shard_conf *)base)->key_line;
	}
	if (lines[key_index(k)] != 0) {
		perr(p, lineno, name, "duplicate key (first set at line %d)", lines[key_index(k)]);
		return 1;
	}
	lines[key_index(k)] = lineno;
	if (set_value(k, base, value, &err) < 0) {
		if (strcmp(err, "value out of range") == 0 && k->type == CT_SECS)
			perr(p, lineno, name, "'%s' is out of range (%g to %g)", value, k->min, k->max);
		else if (strcmp(err, "value out of range") == 0)
			perr(p, lineno, name, "'%s' is out of range (%.0f to %.0f)", value, k->min, k->max);
		else
			perr(p, lineno, name, "'%s': %s", value, err);
	}
	return 1;
}

/* ---- validation ------------------------------------------------------------ */

/* The first line of a password file.  read(2) into a stack buffer rather
 * than stdio, whose heap buffer would be freed unwiped. */
static struct secret *read_secret_file(const char *path, const char **err)
{
	char line[1024];
	struct secret *sec = NULL;
	ssize_t r;
	size_t n = 0, end;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		*err = strerror(errno);
		return NULL;
	}
	for (;;) {
		r = read(fd, line + n, sizeof(line) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof(line) || memchr(line + n - (size_t)r, '\n', (size_t)r) != NULL)
			break;
	}
	for (end = 0; end < n && line[end] != '\r' && line[end] != '\n'; end++)
		;
	if (r < 0)
		*err = strerror(errno);
	else if (n == 0)
		*err = "file is empty";
	else if (end == 0)
		*err = "first line is empty";
	else
		sec = secret_new(line, end);
	close(fd);
	secret_wipe(line, sizeof(line));
	return sec;
}

/* Resolves one shard: inherits [policy], parses the address, loads the secret. */
static void finish_shard(struct parse *p, struct shard_conf *s, bool file_world_readable, mode_t mode)
{
	const struct conf_key *kaddr = conf_key_find("address");
	const char *err;

	for (size_t i = 0; i < ARRAY_SIZE(conf_table); i++) {
		const struct conf_key *k = &conf_table[i];

		if (k->scope == CS_DAEMON || s->key_line[i] != 0) {
			s->source[i] = SRC_SHARD;
			continue;
		}
		if (k->scope == CS_POLICY) {
			copy_value(k, s, &p->conf->policy);
			s->source[i] = p->conf->policy.key_line[i] ? SRC_CONFIG : SRC_DEFAULT;
		} else {
			set_value(k, s, k->def ? k->def : "", &err);
			s->source[i] = SRC_DEFAULT;
		}
	}
	if (s->address == NULL || s->key_line[key_index(kaddr)] == 0) {
		perr(p, s->line, "address", "missing in [shard:%s]", s->name);
	} else if (parse_address(s->address, &s->addr, &err) < 0) {
		perr(p, s->key_line[key_index(kaddr)], "address", "'%s': %s", s->address, err);
	}
	if (*s->password && *s->password_file)
		perr(p, s->key_line[key_index(conf_key_find("password_file"))], "password_file",
		     "give either password or password_file, not both");
	if (*s->password) {
		if (file_world_readable)
			perr(p, s->key_line[key_index(conf_key_find("password"))], "password",
			     "%s is readable by others (mode %04o); run 'chmod o-rwx %s' or use password_file",
			     p->path, (unsigned)(mode & 07777), p->path);
		else
			s->secret = secret_new(s->password, strlen(s->password));
	}
	if (*s->password_file && !*s->password) {
		s->secret = read_secret_file(s->password_file, &err);
		if (s->secret == NULL)
			perr(p, s->key_line[key_index(conf_key_find("password_file"))], "password_file",
			     "cannot read %s: %s", s->password_file, err);
	}
	if (*s->username && !*s->password && !*s->password_file)
		perr(p, s->key_line[key_index(conf_key_find("username"))], "username",
		     "needs password or password_file");
	if (strspn(s->match, " \t") == strlen(s->match))
		perr(p, s->key_line[key_index(conf_key_find("match"))] ? s->key_line[key_index(conf_key_find("match"))]
		     : s->line, "match", "needs at least one pattern");
	/* The secret has its copy: wipe the raw value now rather than keep a
	 * second one in the heap for the life of the config. */
	if (s->secret != NULL && *s->password) {
		secret_wipe(s->password, strlen(s->password));
		free(s->password);
		s->password = xstrdup("");
	}
}

static void validate_daemon(struct parse *p)
{
	struct conf *c = p->conf;
	const struct conf_key *k = conf_key_find("control_socket");

	if (strlen(c->control_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path) || c->control_socket[0] == '\0')
		perr(p, c->key_line[key_index(k)], "control_socket", "path is empty or longer than %zu bytes",
		     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (strcmp(c->control_admin, "root") != 0 && strcmp(c->control_admin, "group") != 0 &&
	    strcmp(c->control_admin, "anyone") != 0)
		perr(p, c->key_line[key_index(conf_key_find("control_admin"))], "control_admin",
		     "'%s': expected root, group or anyone", c->control_admin);
	if (c->state_dir[0] != '/')
		perr(p, c->key_line[key_index(conf_key_find("state_dir"))], "state_dir", "must be an absolute path");
}

/* Reads the whole file: the pre-pass and inih both need it, and reading it
 * once means both see the same bytes. */
static char *slurp(const char *path, size_t *len, struct stat *st, const char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *data;
	size_t n = 0;

	if (fd < 0 || fstat(fd, st) < 0) {
		*err = strerror(errno);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st->st_mode) || st->st_size > 1 << 20) {
		*err = S_ISREG(st->st_mode) ? "file larger than 1 MiB" : "not a regular file";
		close(fd);
		return NULL;
	}
	data = xmalloc((size_t)st->st_size + 1);
	while (n < (size_t)st->st_size) {
		ssize_t r = read(fd, data + n, (size_t)st->st_size - n);

		if (r <= 0) {
			*err = r < 0 ? strerror(errno) : "file shrank while reading";
			free(data);
			close(fd);
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	data[n] = '\0';
	*len = n;
	return data;
}

struct conf *conf_load(const char *path, struct buf *errors)
{
	struct parse p = {.path = path, .errors = errors};
	struct conf *c = xcalloc(1, sizeof(*c));
	struct stat st;
	size_t len;
	const char *err = "unknown error";
	char *text;

	c->path = xstrdup(path);
	p.conf = c;
	set_defaults(c, CS_DAEMON, CS_DAEMON);
	set_defaults(&c->policy, CS_POLICY, CS_SHARD);
	text = slurp(path, &len, &st, &err);
	if (text == NULL) {
		buf_printf(errors, "%s: cannot read: %s\n", path, err);
		conf_free(c);
		return NULL;
	}
	prescan(&p, text, len);
	if (p.nerrors == 0) {
		/* Lines are bounded by the pre-pass; make inih's buffer hold them whole,
		 * and never treat indented lines as continuations. */
		ini_max_line = CONF_MAX_LINE + 3;
		ini_allow_multiline = false;
		if (ini_parse_string(text, on_key, &p) < 0)
			perr(&p, 0, NULL, "parser out of memory");
	}
	secret_wipe(text, len);	/* it held any password = line */
	free(text);
	if (p.nerrors == 0) {
		validate_daemon(&p);
		for (size_t i = 0; i < c->nshards; i++)
			finish_shard(&p, c->shards[i], (st.st_mode & S_IROTH) != 0, st.st_mode);
	}
	for (size_t i = 0; i < p.nsections; i++)
		free(p.sections[i].name);
	free(p.sections);
	if (p.nerrors > 0) {
		conf_free(c);
		return NULL;
	}
	return c;
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
		if (!value_equal(k, a, b))
			return false;
	}
	return secret_equal(a->secret, b->secret);
}

bool conf_shard_equal(const struct shard_conf *a, const struct shard_conf *b)
{
	return shard_equal(a, b, 0);
}

bool conf_shard_conn_equal(const struct shard_conf *a, const struct shard_conf *b)
{
	return shard_equal(a, b, CK_CONNECT);
}
