/* Unit tests for conf: value parsers, every error path, defaults,
 * inheritance from [policy] and the sources shown in status. */
#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "parse.h"
#include "secret.h"
#include "tap.h"

#define PATH "conf-test.conf"

static struct buf errs;

/* Writes text to PATH with the given mode and loads it; errors land in errs. */
static struct conf *load_mode(const char *text, mode_t mode)
{
	FILE *f = fopen(PATH, "w");

	fputs(text, f);
	fclose(f);
	chmod(PATH, mode);
	buf_reset(&errs);
	return conf_load(PATH, &errs);
}

static struct conf *load(const char *text)
{
	return load_mode(text, 0600);
}

/* Loading must fail and the first error line must be exactly want. */
static void fails_with(const char *text, const char *want, const char *what)
{
	struct conf *c = load(text);
	char *nl;

	if (c != NULL) {
		ok(0, "%s", what);
		conf_free(c);
		return;
	}
	nl = strchr(errs.data, '\n');
	if (nl)
		*nl = '\0';
	is_str(errs.data, want, "%s", what);
}

static void test_sizes(void)
{
	uint64_t v = 0;
	const char *err;

	ok(parse_size("2GiB", &v, &err) == 0 && v == 2147483648ULL, "2GiB is 2^31");
	ok(parse_size("1K", &v, &err) == 0 && v == 1000, "K is 1000");
	ok(parse_size("1KiB", &v, &err) == 0 && v == 1024, "KiB is 1024");
	ok(parse_size("3MB", &v, &err) == 0 && v == 3000000, "MB is 10^6");
	ok(parse_size("1.5MiB", &v, &err) == 0 && v == 1572864, "fractional sizes");
	ok(parse_size("1 G", &v, &err) == 0 && v == 1000000000, "a space before the suffix");
	ok(parse_size("2tib", &v, &err) == 0 && v == 2199023255552ULL, "suffixes ignore case");
	ok(parse_size("12345", &v, &err) == 0 && v == 12345, "plain bytes");
	ok(parse_size("1Q", &v, &err) < 0, "an unknown suffix is refused");
	ok(parse_size("-1", &v, &err) < 0, "a negative size is refused");
	ok(parse_size("", &v, &err) < 0, "an empty size is refused");
	ok(parse_size("99999999TiB", &v, &err) < 0, "an overflowing size is refused");
}

static void test_scalars(void)
{
	double d = 0;
	uint64_t u = 0;
	bool b = false;
	const char *err;

	ok(parse_secs("10", &d, &err) == 0 && d == 10, "whole seconds");
	ok(parse_secs("0.25", &d, &err) == 0 && d == 0.25, "fractional seconds");
	ok(parse_secs("2s", &d, &err) == 0 && d == 2, "an s suffix");
	ok(parse_secs("-1", &d, &err) < 0, "negative seconds are refused");
	ok(parse_secs("30m", &d, &err) == 0 && d == 1800, "minutes");
	ok(parse_secs("12h", &d, &err) == 0 && d == 43200, "hours");
	ok(parse_secs("7d", &d, &err) == 0 && d == 604800, "days");
	ok(parse_secs("1w", &d, &err) < 0, "other units are refused");
	ok(parse_uint("42", &u, &err) == 0 && u == 42, "a whole number");
	ok(parse_uint("4x", &u, &err) < 0, "trailing junk is refused");
	ok(parse_uint("99999999999999999999999", &u, &err) < 0, "overflow is refused");
	ok(parse_bool("Yes", &b, &err) == 0 && b, "yes");
	ok(parse_bool("off", &b, &err) == 0 && !b, "off");
	ok(parse_bool("maybe", &b, &err) < 0, "maybe is refused");
	ok(parse_share("10%", &d, &err) == 0 && d == 0.1, "a share in percent");
	ok(parse_share("0.25", &d, &err) == 0 && d == 0.25, "a share as a fraction");
	ok(parse_share("off", &d, &err) == 0 && d == 0 && parse_share("0", &d, &err) == 0 && d == 0, "off and 0");
	ok(parse_share("100%", &d, &err) == 0 && d == 1, "all of it");
	ok(parse_share("101%", &d, &err) < 0 && parse_share("1.5", &d, &err) < 0, "more than all is refused");
	ok(parse_share("-5%", &d, &err) < 0 && parse_share("10%%", &d, &err) < 0 && parse_share("ten", &d, &err) < 0,
	   "a negative share and junk are refused");
}

static void test_addresses(void)
{
	struct parse_addr a;
	const char *err;

	ok(parse_address("127.0.0.1:6380", &a, &err) == 0 && !a.is_unix && strcmp(a.host, "127.0.0.1") == 0 &&
	   a.port == 6380, "host:port");
	parse_addr_free(&a);
	ok(parse_address("redis.example:1", &a, &err) == 0 && strcmp(a.host, "redis.example") == 0,
	   "a host name");
	parse_addr_free(&a);
	ok(parse_address("[::1]:6379", &a, &err) == 0 && strcmp(a.host, "::1") == 0 && a.port == 6379,
	   "[v6]:port");
	parse_addr_free(&a);
	ok(parse_address("unix:/run/redis.sock", &a, &err) == 0 && a.is_unix &&
	   strcmp(a.path, "/run/redis.sock") == 0, "unix:/path");
	parse_addr_free(&a);
	ok(parse_address("localhost", &a, &err) < 0, "no port is refused");
	ok(parse_address("h:0", &a, &err) < 0, "port 0 is refused");
	ok(parse_address("h:65536", &a, &err) < 0, "port 65536 is refused");
	ok(parse_address("::1:6379", &a, &err) < 0, "v6 without brackets is refused");
	ok(parse_address("[::1]6379", &a, &err) < 0, "brackets without a colon are refused");
	ok(parse_address("unix:relative.sock", &a, &err) < 0, "a relative unix path is refused");
}

static void test_defaults_and_inheritance(void)
{
	struct conf *c = load("[shard:a]\naddress = unix:/a.sock\nflush_period_secs = 1.5\n"
			      "[policy]\nflush_when_at_least_bytes = 1GiB\nmatch = task:* object:*\n"
			      "[shard:b]\naddress = 10.0.0.1:7000\ndb = 3\n"
			      "[daemon]\nlog_level = debug\n");
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	size_t ithr = (size_t)(conf_key_find("flush_when_at_least_bytes") - keys);
	size_t iper = (size_t)(conf_key_find("flush_period_secs") - keys);
	size_t ient = (size_t)(conf_key_find("flush_num_entries_each_time") - keys);

	ok(c != NULL, "a good file loads");
	if (c == NULL) {
		printf("# %s", errs.data);
		return;
	}
	ok(c->nshards == 2, "two shards");
	is_str(c->control_socket, "/run/gcs-flushd/control.sock", "control_socket default");
	is_str(c->state_dir, "/var/lib/gcs-flushd", "state_dir default");
	ok(c->control_socket_mode == 0660, "control_socket_mode default 0660");
	ok(c->log_level == 7, "log_level debug");
	ok(c->shards[0]->flush_when_at_least_bytes == 1073741824ULL, "a shard before [policy] still inherits it");
	ok(c->shards[0]->source[ithr] == SRC_CONFIG, "source config for an inherited value");
	ok(c->shards[0]->flush_period_secs == 1.5 && c->shards[0]->source[iper] == SRC_SHARD, "shard override");
	ok(c->shards[1]->flush_period_secs == 10 && c->shards[1]->source[iper] == SRC_DEFAULT,
	   "Ray's default period 10 s");
	ok(c->shards[1]->flush_num_entries_each_time == 10000 && c->shards[1]->source[ient] == SRC_DEFAULT,
	   "Ray's default 10000 entries");
	is_str(c->shards[1]->match, "task:* object:*", "match inherited");
	ok(c->shards[1]->db == 3 && c->shards[1]->addr.port == 7000, "db and port");
	ok(c->shards[0]->archive && c->shards[0]->flush_max_entries_per_sec == 0 &&
	   c->shards[0]->flush_server_budget == 0.1, "archive and pacing defaults: a 10%% budget, no cap");
	ok(c->shards[0]->secret == NULL, "no secret without a password");
	ok(c->shards[0]->flush_mode == FLUSH_MODE_BATCH && c->shards[1]->hold_interval_secs == 0.1,
	   "Ray's batch mode by default; a hold interval of 0.1 s");
	ok(conf_shard_find(c, "b") == c->shards[1] && conf_shard_find(c, "zz") == NULL, "shard lookup");
	conf_free(c);

	c = load("");
	ok(c != NULL && c->nshards == 0, "an empty file is valid (0 shards)");
	conf_free(c);

	c = load("; comment\n# comment\n[policy]\n  flush_period_secs = 3 ; inline\n\n[shard:x-1.y_2]\naddress=unix:/s\n");
	ok(c != NULL && c->shards[0]->flush_period_secs == 3, "comments, indentation and inline comments");
	conf_free(c);
}

/* flush_mode: a word in the file, an index in the struct, a word again
 * when formatted; per shard over [policy]; part of a shard's settings. */
static void test_flush_mode(void)
{
	struct conf *c = load("[policy]\nflush_mode = hold\nhold_interval_secs = 0.05\n"
			      "[shard:a]\naddress = unix:/a\n[shard:b]\naddress = unix:/b\nflush_mode = batch\n");
	const struct conf_key *k = conf_key_find("flush_mode");
	struct buf text;

	ok(c != NULL, "flush_mode and hold_interval_secs load");
	if (c == NULL)
		return;
	buf_init(&text);
	ok(c->shards[0]->flush_mode == FLUSH_MODE_HOLD && c->shards[0]->source[conf_key_index(k)] == SRC_CONFIG,
	   "hold from [policy]");
	ok(c->shards[0]->hold_interval_secs == 0.05, "hold interval from [policy]");
	ok(c->shards[1]->flush_mode == FLUSH_MODE_BATCH && c->shards[1]->source[conf_key_index(k)] == SRC_SHARD,
	   "a shard overrides the mode");
	conf_format_value(k, c->shards[0], &text);
	is_str(text.data, "hold", "the mode is formatted as its word");
	ok(conf_enum_words(conf_key_find("flush_period_secs")) == NULL, "a number has no words");
	buf_free(&text);
	conf_free(c);
	fails_with("[policy]\nflush_mode = fast\n", PATH ":2: flush_mode: 'fast': expected batch or hold",
		   "bad flush mode");
	fails_with("[shard:a]\naddress = unix:/a\nhold_interval_secs = 0.001\n",
		   PATH ":3: hold_interval_secs: '0.001' is out of range (0.01 to 60)", "hold interval out of range");

	{
		struct conf *a = load("[shard:a]\naddress = unix:/a\nflush_mode = hold\n");
		struct conf *b = load("[shard:a]\naddress = unix:/a\n");
		struct shard_conf *d;

		ok(a != NULL && b != NULL, "the same shard in hold and in batch mode loads");
		if (a == NULL || b == NULL) {
			conf_free(a);
			conf_free(b);
			return;
		}
		ok(!conf_shard_equal(a->shards[0], b->shards[0]) && conf_shard_conn_equal(a->shards[0], b->shards[0]),
		   "a change of mode is a change of settings, not of connection");
		d = conf_shard_dup(a->shards[0]);
		ok(d->flush_mode == FLUSH_MODE_HOLD && conf_shard_equal(d, a->shards[0]), "a copy keeps the mode");
		conf_shard_free(d);
		conf_free(a);
		conf_free(b);
	}
}

static void test_equality(void)
{
	struct conf *a = load("[shard:a]\naddress = unix:/a\nflush_period_secs = 1\n");
	struct conf *b = load("[shard:a]\naddress = unix:/a\nflush_period_secs = 2\n");
	struct conf *c = load("[shard:a]\naddress = unix:/a\ndb = 1\nflush_period_secs = 2\n");

	ok(a && b && c, "three variants load");
	if (a && b && c) {
		ok(!conf_shard_equal(a->shards[0], b->shards[0]), "a policy change is a change");
		ok(conf_shard_conn_equal(a->shards[0], b->shards[0]), "but not a connection change");
		ok(!conf_shard_conn_equal(b->shards[0], c->shards[0]), "a db change is a connection change");
		ok(conf_shard_equal(a->shards[0], a->shards[0]), "a shard equals itself");
	}
	conf_free(a);
	conf_free(b);
	conf_free(c);
}

/* A shard's own copy outlives its config; a reload keeps restart-only keys. */
static void test_copies(void)
{
	struct conf *a = load("[daemon]\ncontrol_socket = /run/a.sock\nlog_level = debug\n"
			      "[shard:a]\naddress = [::1]:7000\npassword = s3cret\nmatch = t:* o:*\n");
	struct conf *b = load("[daemon]\ncontrol_socket = /run/b.sock\nlog_level = warning\n");
	struct shard_conf *d;

	ok(a && b, "two configs load");
	if (!a || !b) {
		conf_free(a);
		conf_free(b);
		return;
	}
	d = conf_shard_dup(a->shards[0]);
	conf_free(a);
	is_str(d->name, "a", "the copy has the name");
	is_str(d->match, "t:* o:*", "and the strings");
	ok(!d->addr.is_unix && d->addr.port == 7000 && strcmp(d->addr.host, "::1") == 0, "and the parsed address");
	ok(d->secret != NULL && strcmp(secret_str(d->secret), "s3cret") == 0, "and its own secret");
	ok(d->source[conf_key_index(conf_key_find("match"))] == SRC_SHARD, "and the sources");
	conf_shard_free(d);

	a = load("[daemon]\ncontrol_socket = /run/a.sock\nlog_level = debug\n");
	conf_keep_restart_keys(b, a);
	is_str(b->control_socket, "/run/a.sock", "a restart-only key keeps its running value");
	ok(b->log_level == LOG_LVL_WARNING, "a reloadable key takes the new value");
	conf_free(a);
	conf_free(b);
}

/* The one INFO field the tick reads, as parse_info_uint finds it. */
static void test_info(void)
{
	uint64_t v = 0;

	ok(parse_info_uint("# Memory\r\nused_memory:1234\r\nused_memory_rss:99\r\n", "used_memory", &v) == 0 &&
	   v == 1234, "used_memory from an INFO reply");
	ok(parse_info_uint("used_memory_rss:99\r\nused_memory:7\r\n", "used_memory", &v) == 0 && v == 7,
	   "a longer field with the same prefix is not it");
	ok(parse_info_uint("xused_memory:5\r\n", "used_memory", &v) < 0, "only at the start of a line");
	ok(parse_info_uint("used_memory:-5\r\n", "used_memory", &v) < 0, "no sign");
	ok(parse_info_uint("used_memory:12abc\r\n", "used_memory", &v) < 0, "digits up to the line's end");
	ok(parse_info_uint("used_memory:99999999999999999999999\r\n", "used_memory", &v) < 0, "no overflow");
	ok(parse_info_uint("used_memory:8", "used_memory", &v) == 0 && v == 8, "the last line needs no CRLF");
	ok(parse_info_uint("", "used_memory", &v) < 0, "missing");
}

static void test_errors(void)
{
	char longline[1200];
	struct conf *c;

	fails_with("[policy]\nbogus = 1\n", PATH ":2: bogus: unknown key in [policy]", "unknown key");
	fails_with("[polcy]\n", PATH ":1: unknown section [polcy] (expected [daemon], [policy] or [shard:NAME])",
		   "unknown section");
	fails_with("[policy]\nmatch = a\nmatch = b\n", PATH ":3: match: duplicate key (first set at line 2)",
		   "duplicate key");
	fails_with("[shard:a]\naddress=unix:/a\n[shard:a]\n", PATH ":3: duplicate section [shard:a] (first at line 1)",
		   "duplicate section");
	fails_with("\n[shard:a]\ndb = 1\n", PATH ":2: address: missing in [shard:a] (give address, cluster or sentinels)",
		   "missing address names the section's line");
	fails_with("[policy]\nflush_when_at_least_bytes = 2XB\n",
		   PATH ":2: flush_when_at_least_bytes: '2XB': unknown size suffix (use K, M, G, T or KiB, MiB, GiB, TiB)",
		   "bad size");
	fails_with("[policy]\nflush_period_secs = 0\n",
		   PATH ":2: flush_period_secs: '0' is out of range (0.01 to 86400)", "period out of range");
	fails_with("[policy]\nflush_num_entries_each_time = 0\n",
		   PATH ":2: flush_num_entries_each_time: '0' is out of range (1 to 1000000000)", "entries out of range");
	fails_with("[policy]\narchive = perhaps\n", PATH ":2: archive: 'perhaps': expected yes or no", "bad bool");
	fails_with("[policy]\nflush_server_budget = 150%\n",
		   PATH ":2: flush_server_budget: '150%': a share is at most 100% (1)", "a budget over 100%");
	fails_with("[policy]\nflush_server_budget = lots\n",
		   PATH ":2: flush_server_budget: 'lots': expected a share such as 10%, 0.1 or off", "a bad budget");
	fails_with("[daemon]\nlog_level = loud\n",
		   PATH ":2: log_level: 'loud': expected error, warning, notice, info or debug", "bad log level");
	fails_with("[daemon]\ncontrol_socket_mode = 999\n",
		   PATH ":2: control_socket_mode: '999': expected an octal file mode such as 0660", "bad mode");
	fails_with("[shard:a]\naddress = localhost:99999\n",
		   PATH ":2: address: 'localhost:99999': port must be a number from 1 to 65535", "bad port");
	fails_with("flush_period_secs = 1\n", PATH ":1: flush_period_secs: key outside of any section",
		   "key before any section");
	fails_with("[policy]\njust words\n", PATH ":2: expected 'key = value', '[section]' or a comment",
		   "a line without =");
	fails_with("[policy\n", PATH ":1: section header without ']'", "unclosed section");
	fails_with("[daemon]\nflush_period_secs = 1\n",
		   PATH ":2: flush_period_secs: not allowed in [daemon] (it belongs in [policy] or [shard:NAME])",
		   "policy key in [daemon]");
	fails_with("[policy]\naddress = unix:/x\n", PATH ":2: address: not allowed in [policy] (it belongs in [shard:NAME])",
		   "shard-only key in [policy]");
	fails_with("[policy]\nlog_level = info\n", PATH ":2: log_level: not allowed in [policy] (it belongs in [daemon])",
		   "daemon key in [policy]");
	fails_with("[shard:bad name]\n",
		   PATH ":1: bad shard name 'bad name': use 1 to 32 letters, digits, '_', '-' or '.'", "bad shard name");
	fails_with("[shard:a]\naddress = unix:/a\nusername = app\n", PATH ":3: username: needs password or password_file",
		   "username without a password");
	fails_with("[shard:a]\naddress = unix:/a\npassword_file = /nonexistent/pw\n",
		   PATH ":3: password_file: cannot read /nonexistent/pw: No such file or directory", "missing password_file");
	fails_with("[daemon]\nstate_dir = relative\n", PATH ":2: state_dir: must be an absolute path", "relative state_dir");

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "match = ", 8);
	longline[sizeof(longline) - 1] = '\0';
	{
		char *text = xasprintf("[policy]\n%s\n", longline);

		fails_with(text, PATH ":2: line too long (1199 bytes; at most 1024)", "an over-long line is refused, not cut");
		free(text);
	}
	{
		/* 1000 bytes fit: inih must see the whole line. */
		char *text;

		longline[1000] = '\0';
		text = xasprintf("[policy]\n%s\n[shard:a]\naddress = unix:/a\n", longline);
		c = load(text);
		ok(c != NULL && strlen(c->shards[0]->match) == 992, "a 1000-byte line is read whole");
		conf_free(c);
		free(text);
	}

	/* Every problem is reported, not just the first. */
	c = load("[policy]\nbogus = 1\nflush_period_secs = x\n");
	ok(c == NULL && strstr(errs.data, ":2: bogus") && strstr(errs.data, ":3: flush_period_secs"),
	   "several errors are all reported");

	c = load_mode("[shard:a]\naddress = unix:/a\npassword = hunter2\n", 0644);
	ok(c == NULL && strstr(errs.data, PATH ":3: password: " PATH " is readable by others (mode 0644)") != NULL,
	   "a password in a world-readable file is refused");
	ok(strstr(errs.data, "hunter2") == NULL, "the password is never echoed");
	c = load_mode("[shard:a]\naddress = unix:/a\npassword = hunter2\n", 0640);
	ok(c != NULL && c->shards[0]->secret && strcmp(secret_str(c->shards[0]->secret), "hunter2") == 0,
	   "a password in a private file is accepted");
	ok(c != NULL && strcmp(c->shards[0]->password, "") == 0, "the raw password value is dropped once copied");
	conf_free(c);

	{
		FILE *f = fopen("conf-test.pw", "w");

		fputs("s3cret\n", f);
		fclose(f);
		c = load("[shard:a]\naddress = unix:/a\nusername = app\npassword_file = conf-test.pw\n");
		ok(c != NULL && strcmp(secret_str(c->shards[0]->secret), "s3cret") == 0, "password_file's first line, newline cut");
		conf_free(c);
		fails_with("[shard:a]\naddress = unix:/a\npassword = x\npassword_file = conf-test.pw\n",
			   PATH ":4: password_file: give either password or password_file, not both", "both kinds of password");
		remove("conf-test.pw");
	}

	buf_reset(&errs);
	ok(conf_load("/nonexistent/gcs.conf", &errs) == NULL &&
	   strcmp(errs.data, "/nonexistent/gcs.conf: cannot read: No such file or directory\n") == 0,
	   "a missing file is named");
}

int main(void)
{
	buf_init(&errs);
	test_sizes();
	test_scalars();
	test_addresses();
	test_defaults_and_inheritance();
	test_flush_mode();
	test_equality();
	test_copies();
	test_info();
	test_errors();
	remove(PATH);
	buf_free(&errs);
	return tap_done();
}
