/* stubs: the few daemon, shard and ctl functions that src/cmd.c calls. */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"
#include "shard.h"
#include "stubs.h"

struct shard {
	const char *name;
	bool paused;
};

static struct shard shard_list[] = {{"primary", false}, {"replica-1", false}, {"down", false}};
static struct shard *shard_ptrs[] = {&shard_list[0], &shard_list[1], &shard_list[2]};
/* control_admin = group, the default: root passes, others are refused. */
static char admin[] = "group";
static struct conf the_conf = {.control_admin = admin};
static struct daemon the_daemon = {.shards = shard_ptrs, .nshards = ARRAY_SIZE(shard_ptrs), .conf = &the_conf,
				   .ctl_group = 0};

struct daemon *stubs_daemon(void)
{
	return &the_daemon;
}

struct shard *daemon_shard(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nshards; i++)
		if (strcmp(d->shards[i]->name, name) == 0)
			return d->shards[i];
	return NULL;
}

const char *shard_name(const struct shard *s)
{
	return s->name;
}

void shard_set_paused(struct shard *s, bool paused)
{
	s->paused = paused;
}

int daemon_reload(struct daemon *d, struct json *j, char **err)
{
	(void)err;
	json_key(j, "added");
	json_arr_begin(j);
	json_arr_end(j);
	json_key(j, "unchanged");
	json_arr_begin(j);
	for (size_t i = 0; i < d->nshards; i++)
		json_str(j, d->shards[i]->name);
	json_arr_end(j);
	return 0;
}

void daemon_status_json(const struct daemon *d, struct json *j)
{
	json_key(j, "shards");
	json_arr_begin(j);
	for (size_t i = 0; i < d->nshards; i++) {
		json_obj_begin(j);
		json_key(j, "name");
		json_str(j, d->shards[i]->name);
		json_key(j, "paused");
		json_bool(j, d->shards[i]->paused);
		json_key(j, "ratio");
		json_double(j, 1.0 / 3);
		json_obj_end(j);
	}
	json_arr_end(j);
}

/* Answers at once, as a cycle that ends in the same turn of the loop. */
int shard_flush_now(struct shard *s, uint64_t n, flush_done_fn *done, void *arg, const char **why)
{
	struct flush_result r = {.requested = n ? n : 10000, .chunks = 1, .seconds = 0.25};

	if (strcmp(s->name, "down") == 0) {
		*why = "not connected";
		return -1;
	}
	if (strcmp(s->name, "replica-1") == 0)
		r.error = "connection lost: \"reset\"\n";
	else
		r.flushed = r.requested;
	done(arg, &r);
	return 0;
}

void shard_oldest_json(const struct shard *s, size_t n, struct json *j)
{
	json_key(j, "entries");
	json_arr_begin(j);
	for (size_t i = 0; i < n && i < 3; i++) {
		json_obj_begin(j);
		json_key_name(j, "key", i == 1 ? "\xff\0k" : s->name, i == 1 ? 3 : strlen(s->name));
		json_obj_end(j);
	}
	json_arr_end(j);
}

struct peek_report {
	uint64_t n;
};

void peek_report_json(const struct peek_report *r, struct json *j)
{
	json_key(j, "would_flush");
	json_uint(j, r->n);
}

/* Answers at once, or refuses for the shard that is down. */
int shard_dry_run(struct shard *s, uint64_t n, peek_done_fn *done, void *arg, const char **why)
{
	struct peek_report r = {n};

	if (strcmp(s->name, "down") == 0) {
		*why = "too many dry runs at once on this shard; try again";
		return -1;
	}
	done(arg, &r);
	return 0;
}

void ctl_reply(struct ctl_client *cl, struct buf *reply)
{
	cl->replies++;
	buf_reset(&cl->reply);
	buf_append(&cl->reply, reply->data, reply->len);
}

/* The peer alternates between root and an unprivileged user, so that both
 * the permitted and the refused paths of mutating commands are fuzzed. */
const struct ctl_peer *ctl_client_peer(const struct ctl_client *cl)
{
	static const struct ctl_peer root = {1, 0, 0}, other = {1, 65534, 65534};

	return (cl->replies % 2 == 0 && cl->reply.len % 2 == 0) ? &root : &other;
}
