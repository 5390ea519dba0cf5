/* conf: reading the INI configuration file into a struct conf, with every
 * problem reported as FILE:LINE: key: message.  The keys, their types,
 * defaults and bounds are the table in conf_keys.c; this file only walks it.
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
#include "conf_keys.h"
#include "log.h"
#include "secret.h"

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
	if (lines[conf_key_index(k)] != 0) {
		perr(p, lineno, name, "duplicate key (first set at line %d)", lines[conf_key_index(k)]);
		return 1;
	}
	lines[conf_key_index(k)] = lineno;
	if (conf_set_value(k, base, value, &err) < 0) {
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

/* Where key name was set in s, or the section's line. */
static int line_of(const struct shard_conf *s, const char *name)
{
	int line = s->key_line[conf_key_index(conf_key_find(name))];

	return line ? line : s->line;
}

/* Every host:port of a space-separated list (cluster seeds, sentinels). */
static void check_seeds(struct parse *p, const struct shard_conf *s, const char *key, const char *list)
{
	char *copy = xstrdup(list), *save = NULL;
	struct parse_addr a;
	const char *err;

	for (char *t = strtok_r(copy, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save)) {
		memset(&a, 0, sizeof(a));
		if (parse_address(t, &a, &err) < 0)
			perr(p, line_of(s, key), key, "'%s': %s", t, err);
		else if (a.is_unix)
			perr(p, line_of(s, key), key, "'%s': needs host:port, not a UNIX socket", t);
		parse_addr_free(&a);
	}
	free(copy);
}

/* A shard is one server (address), a Redis Cluster (cluster) or a
 * Sentinel-managed master (sentinels and sentinel_master): exactly one. */
static void check_location(struct parse *p, struct shard_conf *s)
{
	static const char *const kinds[] = {"address", "cluster", "sentinels"};
	const char *vals[] = {s->address, s->cluster, s->sentinels}, *first = NULL, *err;

	for (size_t i = 0; i < 3; i++) {
		if (*vals[i] == '\0')
			continue;
		if (first != NULL)
			perr(p, line_of(s, kinds[i]), kinds[i], "give only one of address, cluster and sentinels (%s is set)",
			     first);
		else
			first = kinds[i];
	}
	if (first == NULL)
		perr(p, s->line, "address", "missing in [shard:%s] (give address, cluster or sentinels)", s->name);
	if (*s->address && parse_address(s->address, &s->addr, &err) < 0)
		perr(p, line_of(s, "address"), "address", "'%s': %s", s->address, err);
	if (*s->cluster) {
		check_seeds(p, s, "cluster", s->cluster);
		if (s->db != 0)
			perr(p, line_of(s, "db"), "db", "a cluster has only db 0");
	}
	if (*s->sentinels) {
		check_seeds(p, s, "sentinels", s->sentinels);
		if (!*s->sentinel_master)
			perr(p, line_of(s, "sentinels"), "sentinel_master", "needed with sentinels: the master's name");
	} else if (*s->sentinel_master || *s->sentinel_username || *s->sentinel_password_file) {
		perr(p, line_of(s, *s->sentinel_master ? "sentinel_master" : *s->sentinel_username ?
				   "sentinel_username" : "sentinel_password_file"),
		     *s->sentinel_master ? "sentinel_master" : *s->sentinel_username ? "sentinel_username"
			: "sentinel_password_file", "only with sentinels");
	}
}

/* The sentinels' credentials. */
static void load_sentinel_secret(struct parse *p, struct shard_conf *s)
{
	const char *err;

	if (*s->sentinel_password_file) {
		s->sentinel_secret = read_secret_file(s->sentinel_password_file, &err);
		if (s->sentinel_secret == NULL)
			perr(p, line_of(s, "sentinel_password_file"), "sentinel_password_file", "cannot read %s: %s",
			     s->sentinel_password_file, err);
	} else if (*s->sentinel_username) {
		perr(p, line_of(s, "sentinel_username"), "sentinel_username", "needs sentinel_password_file");
	}
}

/* Resolves one shard: inherits [policy], parses the address, loads the secret. */
static void finish_shard(struct parse *p, struct shard_conf *s, bool file_world_readable, mode_t mode)
{
	const char *err;
	size_t nkeys;
	const struct conf_key *keys = conf_keys(&nkeys);

	for (size_t i = 0; i < nkeys; i++) {
		const struct conf_key *k = &keys[i];

		if (k->scope == CS_DAEMON || s->key_line[i] != 0) {
			s->source[i] = SRC_SHARD;
			continue;
		}
		if (k->scope == CS_POLICY) {
			conf_copy_value(k, s, &p->conf->policy);
			s->source[i] = p->conf->policy.key_line[i] ? SRC_CONFIG : SRC_DEFAULT;
		} else {
			conf_set_value(k, s, k->def ? k->def : "", &err);
			s->source[i] = SRC_DEFAULT;
		}
	}
	check_location(p, s);
	if (*s->password && *s->password_file)
		perr(p, s->key_line[conf_key_index(conf_key_find("password_file"))], "password_file",
		     "give either password or password_file, not both");
	if (*s->password) {
		if (file_world_readable)
			perr(p, s->key_line[conf_key_index(conf_key_find("password"))], "password",
			     "%s is readable by others (mode %04o); run 'chmod o-rwx %s' or use password_file",
			     p->path, (unsigned)(mode & 07777), p->path);
		else
			s->secret = secret_new(s->password, strlen(s->password));
	}
	if (*s->password_file && !*s->password) {
		s->secret = read_secret_file(s->password_file, &err);
		if (s->secret == NULL)
			perr(p, s->key_line[conf_key_index(conf_key_find("password_file"))], "password_file",
			     "cannot read %s: %s", s->password_file, err);
	}
	load_sentinel_secret(p, s);
	if (*s->username && !*s->password && !*s->password_file)
		perr(p, s->key_line[conf_key_index(conf_key_find("username"))], "username",
		     "needs password or password_file");
	if (strspn(s->match, " \t") == strlen(s->match))
		perr(p, s->key_line[conf_key_index(conf_key_find("match"))] ? s->key_line[conf_key_index(conf_key_find("match"))]
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
		perr(p, c->key_line[conf_key_index(k)], "control_socket", "path is empty or longer than %zu bytes",
		     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (strcmp(c->control_admin, "root") != 0 && strcmp(c->control_admin, "group") != 0 &&
	    strcmp(c->control_admin, "anyone") != 0)
		perr(p, c->key_line[conf_key_index(conf_key_find("control_admin"))], "control_admin",
		     "'%s': expected root, group or anyone", c->control_admin);
	if (*c->metrics_listen) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *err;

		if (parse_listen(c->metrics_listen, &ss, &len, &err) < 0)
			perr(p, c->key_line[conf_key_index(conf_key_find("metrics_listen"))], "metrics_listen", "'%s': %s",
			     c->metrics_listen, err);
	}
	if (c->state_dir[0] != '/')
		perr(p, c->key_line[conf_key_index(conf_key_find("state_dir"))], "state_dir", "must be an absolute path");
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
	conf_set_defaults(c, CS_DAEMON, CS_DAEMON);
	conf_set_defaults(&c->policy, CS_POLICY, CS_SHARD);
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

