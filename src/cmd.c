/* cmd: control requests.  One table of commands; each handler writes the
 * members of the reply object after "ok".  Owns the parsing and the
 * permission check of a request; the work is the daemon's and the shards'. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "ctl.h"
#include "daemon.h"
#include "json.h"
#include "log.h"

struct cmd_ctx {
	struct daemon *d;
	struct ctl_client *cl;
	struct json *j;
	int argc;
	char **argv;
	char *error;		/* set by a failing handler */
	bool deferred;		/* the handler replies later, itself */
};

struct cmd {
	const char *name;
	int min_args, max_args;	/* not counting the command word */
	const char *usage;
	void (*run)(struct cmd_ctx *c);
	bool mutating;		/* changes what the daemon does: see control_admin */
	const char *look_only;	/* as its first argument, makes it change nothing */
};

int cmd_parse(const char *line, size_t len, char *storage, char *argv[], int max, const char **err)
{
	int argc = 0;
	size_t i = 0;

	/* Rejected, not scrubbed: a request is a command, and a changed one
	 * would do something the client did not ask for.  A tab separates words. */
	if (ctl_find(line, len, "\t") != NULL) {
		*err = "request contains control characters or NUL bytes";
		return -1;
	}
	memcpy(storage, line, len);
	storage[len] = '\0';
	while (i < len) {
		while (i < len && (storage[i] == ' ' || storage[i] == '\t'))
			storage[i++] = '\0';
		if (i == len)
			break;
		if (argc == max) {
			*err = "too many words in request";
			return -1;
		}
		argv[argc++] = storage + i;
		while (i < len && storage[i] != ' ' && storage[i] != '\t')
			i++;
	}
	return argc;
}

static void fail(struct cmd_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct cmd_ctx *c, const char *fmt, ...)
{
	va_list ap;

	free(c->error);
	va_start(ap, fmt);
	c->error = xvasprintf(fmt, ap);
	va_end(ap);
}

static void run_status(struct cmd_ctx *c)
{
	daemon_status_json(c->d, c->j);
}

/* pause and resume: one shard, or all of them. */
static void set_paused(struct cmd_ctx *c, bool paused)
{
	struct daemon *d = c->d;

	if (c->argc == 1 && daemon_shard(d, c->argv[0]) == NULL) {
		fail(c, "no shard named '%s'", c->argv[0]);
		return;
	}
	json_key(c->j, "shards");
	json_arr_begin(c->j);
	for (size_t i = 0; i < d->nshards; i++) {
		if (c->argc == 1 && strcmp(shard_name(d->shards[i]), c->argv[0]) != 0)
			continue;
		shard_set_paused(d->shards[i], paused);
		json_str(c->j, shard_name(d->shards[i]));
	}
	json_arr_end(c->j);
}

static void run_pause(struct cmd_ctx *c)
{
	set_paused(c, true);
}

static void run_resume(struct cmd_ctx *c)
{
	set_paused(c, false);
}

static void run_reload(struct cmd_ctx *c)
{
	char *err = NULL;

	log_info("reload requested over the control socket");
	if (daemon_reload(c->d, c->j, &err) < 0)
		c->error = err;
}

/* A forced flush answers when its cycle ends. */
static void on_flushed(void *arg, const struct flush_result *r)
{
	struct ctl_client *cl = arg;
	struct buf reply;
	struct json j;

	buf_init(&reply);
	json_init(&j, &reply);
	json_obj_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, r->error == NULL);
	if (r->error != NULL) {
		json_key(&j, "error");
		json_str(&j, r->error);
	}
	json_key(&j, "requested");
	json_uint(&j, r->requested);
	json_key(&j, "flushed");
	json_uint(&j, r->flushed);
	json_key(&j, "already_gone");
	json_uint(&j, r->already_gone);
	json_key(&j, "chunks");
	json_uint(&j, r->chunks);
	json_key(&j, "seconds");
	{
		char secs[32];

		snprintf(secs, sizeof(secs), "%.6f", r->seconds);
		json_raw(&j, secs);
	}
	json_obj_end(&j);
	ctl_reply(cl, &reply);
	buf_free(&reply);
}

/* A dry run answers when its MEMORY USAGE replies are in. */
static void on_dry_run(void *arg, const struct peek_report *r)
{
	struct ctl_client *cl = arg;
	struct buf reply;
	struct json j;

	buf_init(&reply);
	json_init(&j, &reply);
	json_obj_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, true);
	peek_report_json(r, &j);
	json_obj_end(&j);
	ctl_reply(cl, &reply);
	buf_free(&reply);
}

/* SHARD [N], N from 1 to max (or left 0). */
static struct shard *shard_and_count(struct cmd_ctx *c, uint64_t *n, uint64_t max)
{
	struct shard *s = daemon_shard(c->d, c->argv[0]);
	const char *why;

	*n = 0;
	if (s == NULL) {
		fail(c, "no shard named '%s'", c->argv[0]);
		return NULL;
	}
	if (c->argc == 2 && (parse_uint(c->argv[1], n, &why) < 0 || *n < 1 || *n > max)) {
		fail(c, "N must be a whole number from 1 to %llu", (unsigned long long)max);
		return NULL;
	}
	return s;
}

static void run_flush(struct cmd_ctx *c)
{
	bool dry = strcmp(c->argv[0], "--dry-run") == 0;
	struct shard *s;
	uint64_t n;
	const char *why;

	c->argv += dry;
	c->argc -= dry;
	if (c->argc < 1 || c->argc > 2) {
		fail(c, "usage: flush [--dry-run] SHARD [N]");
		return;
	}
	if ((s = shard_and_count(c, &n, 1000000000)) == NULL)
		return;
	if (dry) {
		if (shard_dry_run(s, n, on_dry_run, c->cl, &why) < 0)
			fail(c, "shard %s: %s", c->argv[0], why);
		else
			c->deferred = true;
		return;
	}
	log_info("shard %s: flush requested over the control socket", c->argv[0]);
	if (shard_flush_now(s, n, on_flushed, c->cl, &why) < 0) {
		fail(c, "shard %s: %s", c->argv[0], why);
		return;
	}
	c->deferred = true;
}

static void run_oldest(struct cmd_ctx *c)
{
	uint64_t n;
	struct shard *s = shard_and_count(c, &n, PEEK_OLDEST_MAX);

	if (s != NULL)
		shard_oldest_json(s, n ? n : 10, c->j);
}

static const struct cmd commands[] = {
	{"status", 0, 0, "status", run_status, false, NULL},
	{"flush", 1, 3, "flush [--dry-run] SHARD [N]", run_flush, true, "--dry-run"},
	{"oldest", 1, 2, "oldest SHARD [N]", run_oldest, false, NULL},
	{"pause", 0, 1, "pause [SHARD]", run_pause, true, NULL},
	{"resume", 0, 1, "resume [SHARD]", run_resume, true, NULL},
	{"reload", 0, 0, "reload", run_reload, true, NULL},
};

/* Is gid among the supplementary groups of pid?  Read from /proc, which
 * never blocks (a group database lookup might); false when unreadable. */
static bool in_group(pid_t pid, gid_t gid)
{
	char path[64], line[1024];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + 7, *end;

		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);

			if (end == p)
				break;
			found |= (gid_t)g == gid;
			p = end;
		}
		break;
	}
	fclose(f);
	return found;
}

/* control_admin: root and the daemon's own user always (the latter could
 * signal it anyway, and is who the unit's ExecReload runs as); the socket's
 * group when "group"; anyone who could connect when "anyone". */
static bool may_mutate(const struct daemon *d, const struct ctl_peer *peer)
{
	const char *who = d->conf->control_admin;

	if (peer->uid == 0 || peer->uid == geteuid() || strcmp(who, "anyone") == 0)
		return true;
	if (strcmp(who, "group") != 0 || peer->uid == (uid_t)-1)
		return false;
	return peer->gid == d->ctl_group || in_group(peer->pid, d->ctl_group);
}

static void command_list(struct buf *b)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		buf_printf(b, "%s%s", i ? ", " : "", commands[i].name);
}

static void error_reply(struct buf *reply, const char *msg)
{
	buf_reset(reply);
	json_error_reply(reply, msg);
}

static const struct cmd *find_command(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static bool cmd_run(struct daemon *d, struct ctl_client *cl, const char *line, size_t len, struct buf *reply)
{
	char *storage = xmalloc(len + 1);
	char *argv[CMD_MAX_ARGS];
	const char *err;
	const struct cmd *cmd;
	struct cmd_ctx c = {.d = d, .cl = cl};
	struct json j;
	struct buf msg;
	int argc = cmd_parse(line, len, storage, argv, CMD_MAX_ARGS, &err);

	buf_init(&msg);
	if (argc < 0) {
		error_reply(reply, err);
	} else if (argc == 0) {
		buf_puts(&msg, "empty request (commands: ");
		command_list(&msg);
		buf_puts(&msg, ")");
		error_reply(reply, msg.data);
	} else if ((cmd = find_command(argv[0])) == NULL) {
		buf_puts(&msg, "unknown command ");
		json_escape(&msg, argv[0], strnlen(argv[0], 64));	/* quoted, safe to echo */
		buf_puts(&msg, " (commands: ");
		command_list(&msg);
		buf_puts(&msg, ")");
		error_reply(reply, msg.data);
	} else if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
		buf_printf(&msg, "usage: %s", cmd->usage);
		error_reply(reply, msg.data);
	} else if (cmd->mutating && !(cmd->look_only && argc > 1 && strcmp(argv[1], cmd->look_only) == 0) &&
		   !may_mutate(d, ctl_client_peer(cl))) {
		buf_printf(&msg, "permission denied: '%s' needs root%s (control_admin = %s; you are uid %d)", cmd->name,
			   strcmp(d->conf->control_admin, "group") == 0 ? " or the control socket's group" : "",
			   d->conf->control_admin, (int)ctl_client_peer(cl)->uid);
		log_notice("control: refused '%s' from uid %d", cmd->name, (int)ctl_client_peer(cl)->uid);
		error_reply(reply, msg.data);
	} else {
		log_debug("control request: %s", argv[0]);
		json_init(&j, reply);
		json_obj_begin(&j);
		json_key(&j, "ok");
		json_bool(&j, true);
		c.j = &j;
		c.argc = argc - 1;
		c.argv = argv + 1;
		cmd->run(&c);
		json_obj_end(&j);
		if (c.error != NULL)
			error_reply(reply, c.error);
	}
	free(c.error);
	buf_free(&msg);
	free(storage);
	return c.deferred;
}

void cmd_handle(void *arg, struct ctl_client *cl, const char *line, size_t len)
{
	struct buf reply;

	buf_init(&reply);
	if (!cmd_run(arg, cl, line, len, &reply))
		ctl_reply(cl, &reply);
	buf_free(&reply);
}
