/* chunk: one chunk of a flush cycle, from its commands to its settling.
 *
 * A chunk's entries are sorted by hash slot and sent as one command per
 * slot group (in a cluster no command may cross a slot; a standalone
 * node's chunk is one group), pipelined; a step ends when the last group's
 * reply is in, and decides each entry's fate: done, back to the ledger
 * head, or on to the next step.  The steps: UNLINK (archive off); or, with
 * the archive, DUMP and PTTL of each key as plain pipelined commands, then
 * after the group commit a compare-and-delete script per group.  A group
 * answered MOVED, ASK, TRYAGAIN, READONLY or CLUSTERDOWN puts its keys back
 * and asks the owner to read the topology again.
 *
 * Why no optimistic WATCH ... MULTI/UNLINK/EXEC in place of the second
 * DUMP: EXEC drops every WATCH of its connection, so each chunk in flight
 * would need a connection of its own, and chunks wait milliseconds for the
 * group commit (thousands of keys in flight at full speed); while Redis 7.0
 * scans a client's whole list of watched keys for each key it WATCHes
 * (bench/archive_cost.py, 200-key chunks: 2.6-2.7 us of server time per
 * key against 1.9-2.15 for DUMP, PTTL and UNLINK alone).  See
 * bench/README.md, issue 13.
 *
 * Owns the commands, the script and the reading of their replies; the
 * cycle and its pacing are flush.c's, the group commit the store's. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "conn.h"
#include "flush_int.h"
#include "log.h"
#include "pace.h"
#include "sha1.h"
#include "slot.h"
#include "store.h"

/* The script carries no "#!lua flags=..." line, on purpose: Redis 7 runs a
 * script without one in its EVAL compatibility mode, where only a call to
 * a deny-oom command is refused over maxmemory.  DUMP and UNLINK are not,
 * so it runs when memory is full, exactly when it is needed (faults.bats
 * checks it).  A shebang would need allow-oom for that, and is a syntax
 * error to Redis 6 and older.
 *
 * Under an ACL, a command a script may not call fails with "ERR The user
 * executing the script can't run this command", which does not say which:
 * so the script first asks Redis (7.0 and later: redis.acl_check_cmd)
 * for every command it calls, and names the one refused.  EVAL has
 * already checked the keys themselves. */
#define SCRIPT_ACL_CHECK(cmds)								\
	"if redis.acl_check_cmd and KEYS[1] then\n"					\
	"  for _, c in ipairs({" cmds "}) do\n"						\
	"    if not redis.acl_check_cmd(c, KEYS[1]) then\n"				\
	"      return redis.error_reply(\"NOPERM this user has no permissions to run the '\" .. c ..\n"	\
	"        \"' command (called by gcs-flushd's script)\")\n"			\
	"    end\n"									\
	"  end\n"									\
	"end\n"

/* Per key: 1 deleted, 0 already gone, -1 changed since it was archived.
 * ARGV[i] is the archived payload itself when small (FLUSH_CMP_INLINE_MAX),
 * else its SHA-1 in hex.  The two cannot be confused: a DUMP payload ends
 * in a 2-byte RDB version whose high byte is 0, which no hex digit is.
 * The keys that match go in one UNLINK at the end, a Lua call per key
 * fewer (bench/archive_cost.py: with plain DUMPs, 3.05-3.3 us of server
 * time per key against 3.2-3.5); the script is atomic, so none can change
 * in between.  A key given twice counts once. */
static const char cad_script[] =
	SCRIPT_ACL_CHECK("'dump', 'unlink'")
	"local r, del, seen = {}, {}, {}\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local d = not seen[k] and redis.call('DUMP', k)\n"
	"  local a = ARGV[i]\n"
	"  seen[k] = true\n"
	"  if not d then\n"
	"    r[i] = 0\n"
	"  elseif d == a or (#a == 40 and redis.sha1hex(d) == a) then\n"
	"    del[#del + 1] = k\n"
	"    r[i] = 1\n"
	"  else\n"
	"    r[i] = -1\n"
	"  end\n"
	"end\n"
	"if #del > 0 then redis.call('UNLINK', unpack(del)) end\n"
	"return r\n";

struct script {
	const char *body;
	char sha[41];
};

static struct script cad_lua = {cad_script, ""};

struct chunk *chunk_new(struct flush *f)
{
	struct chunk *c = xmalloc(sizeof(*c));

	c->f = f;
	c->n = 0;
	c->deleting = false;
	c->unsynced = c->synced = false;
	c->error = NULL;
	buf_init(&c->cmp);
	buf_init(&c->pay);
	archive_batch_init(&c->recs);
	return c;
}

void chunk_free(struct chunk *c)
{
	buf_free(&c->cmp);
	buf_free(&c->pay);
	archive_batch_free(&c->recs);
	free(c->error);
	free(c);
}

/* ---- groups and steps ----------------------------------------------------- */

/* Puts entries back at the ledger head in creation order: those whose
 * fate is BACK or CHANGED, or every one (only == NULL). */
struct placed {
	uint16_t ord;
	struct ledger_entry *e;
};

static int placed_cmp(const void *a, const void *b)
{
	const struct placed *x = a, *y = b;

	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static void put_back(struct chunk *c, const unsigned char *only)
{
	struct placed p[FLUSH_CHUNK_MAX];
	struct ledger_entry *v[FLUSH_CHUNK_MAX];
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		if (only == NULL || only[i] == BACK || only[i] == CHANGED)
			p[n++] = (struct placed){c->ord[i], c->e[i]};
	/* The chunk is in slot order; the ledger wants creation order. */
	if (c->f->want != NULL)
		qsort(p, n, sizeof(p[0]), placed_cmp);
	for (size_t i = 0; i < n; i++)
		v[i] = p[i].e;
	ledger_put_back(c->f->ledger, v, n);
}

/* One group per slot when the flush has slots, else one for all. */
static void make_groups(struct chunk *c)
{
	c->ngroups = 0;
	for (size_t i = 0; i < c->n;) {
		size_t j = i + 1;

		if (c->f->want != NULL)
			while (j < c->n && c->slot[j] == c->slot[i])
				j++;
		else
			j = c->n;
		c->g[c->ngroups++] = (struct group){c, i, j, 0, 0, 0, false};
		i = j;
	}
}

struct sortable {
	uint16_t slot, ord;
	struct ledger_entry *e;
};

static int slot_cmp(const void *a, const void *b)
{
	const struct sortable *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* A new chunk of n taken entries: in slot order (creation order within a
 * slot), its groups made.  Each key's slot is computed once, here. */
static void chunk_ready(struct chunk *c)
{
	struct sortable v[FLUSH_CHUNK_MAX];

	for (size_t i = 0; i < c->n; i++)
		c->ord[i] = (uint16_t)i;
	if (c->f->want != NULL) {
		for (size_t i = 0; i < c->n; i++)
			v[i] = (struct sortable){slot_of(c->e[i]->key, c->e[i]->klen), (uint16_t)i, c->e[i]};
		qsort(v, c->n, sizeof(v[0]), slot_cmp);
		for (size_t i = 0; i < c->n; i++) {
			c->slot[i] = v[i].slot;
			c->ord[i] = v[i].ord;
			c->e[i] = v[i].e;
		}
	}
	make_groups(c);
}

/* A step begins: every group's reply is due.  Under a budget it is the
 * one step out. */
static void step_begin(struct chunk *c)
{
	c->due = c->ngroups;
	c->f->step_out = pace_budgeted(&c->f->pace);
	c->removed = c->gone = 0;
	memset(c->fate, KEEP, c->n);
	free(c->error);
	c->error = NULL;
}

/* A reply that says the keys are elsewhere now: the node's owner reads the
 * topology again (the keys go back, to be flushed on the right node). */
static bool is_redirect(const char *err)
{
	static const char *const words[] = {"MOVED", "ASK", "TRYAGAIN", "READONLY", "CLUSTERDOWN"};

	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strncmp(err, words[i], strlen(words[i])) == 0)
			return true;
	return false;
}

/* A group failed: its keys go back; the cycle stops after this chunk. */
static void group_failed(struct group *g, const char *what, const redisReply *r)
{
	struct chunk *c = g->c;

	for (size_t i = g->from; i < g->to; i++)
		c->fate[i] = BACK;
	if (c->error == NULL)
		c->error = xasprintf("%s: %s", what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (r->type == REDIS_REPLY_ERROR && is_redirect(r->str) && c->f->redirected != NULL)
		c->f->redirected(c->f->redirect_arg, r->str);
}

/* After the last reply of a step: settles DONE entries, puts BACK and
 * CHANGED ones back, keeps the rest (in slot order, regrouped).  Returns
 * false when the chunk is gone (it failed or nothing is left). */
static bool step_end(struct chunk *c)
{
	struct flush *f = c->f;
	size_t keep = 0;

	f->step_out = false;
	put_back(c, c->fate);
	for (size_t i = 0; i < c->n; i++) {
		if (c->fate[i] == CHANGED)
			f->changed_total++;
		if (c->fate[i] == DONE)
			ledger_done(f->ledger, c->e[i]);
		if (c->fate[i] != KEEP)
			continue;
		c->e[keep] = c->e[i];
		c->ord[keep] = c->ord[i];
		c->slot[keep] = c->slot[i];
		c->cmp_off[keep] = c->cmp_off[i];
		c->cmp_len[keep++] = c->cmp_len[i];
	}
	c->n = keep;
	make_groups(c);
	if (c->error != NULL) {
		/* The other groups go on (their records are buffered for the
		 * archive); the cycle takes no more chunks. */
		if (f->error == NULL)
			f->error = xstrdup(c->error);
		f->stopping = true;
	}
	if (c->n == 0) {
		flush_chunk_settled(c, c->removed, c->gone);
		return false;
	}
	return true;
}

/* The loop thread's CPU time, in seconds. */
static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A group's command of kind was answered (a NOSCRIPT answer is not: the
 * command goes again, its clock restarted): its round trip feeds the
 * histogram and the pacing.  ours: the daemon's own time within it, which
 * the pacing does not charge as the server's (reading a group's DUMP and
 * PTTL replies, one of each a key, took as long as the server's work on a
 * busy 2-core machine, and halved a budgeted flush: bench scenario 2). */
static void answered(struct group *g, enum pace_kind kind, double ours)
{
	double now = time_mono();

	hist_observe(&g->c->f->roundtrip_secs, now - g->sent);
	pace_command_done(&g->c->f->pace, kind, g->to - g->from, g->sent + ours, now);
}

/* ---- archive off: UNLINK ---------------------------------------------------- */

static void on_unlinked(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	size_t sent = g->to - g->from;
	uint64_t removed;

	(void)owner;
	answered(g, PACE_UNLINK, 0);
	if (r->type != REDIS_REPLY_INTEGER) {
		group_failed(g, "UNLINK", r);
	} else {
		/* Count from the reply, never from what was sent. */
		removed = r->integer < 0 ? 0 : (uint64_t)r->integer;
		if (removed > sent)
			removed = sent;
		c->removed += removed;
		c->gone += sent - removed;
		memset(c->fate + g->from, DONE, sent);
	}
	if (--c->due == 0)
		step_end(c);
}

static void send_unlink(struct chunk *c)
{
	const char *argv[FLUSH_CHUNK_MAX + 1];
	size_t lens[FLUSH_CHUNK_MAX + 1];

	step_begin(c);
	c->deleting = true;
	c->f->deletes_sent += c->n;
	for (size_t k = 0; k < c->ngroups; k++) {
		struct group *g = &c->g[k];
		int argc = 1;

		argv[0] = "UNLINK";
		lens[0] = 6;
		for (size_t i = g->from; i < g->to; i++, argc++) {
			argv[argc] = c->e[i]->key;
			lens[argc] = c->e[i]->klen;
		}
		/* On failure the conn fails, and the flush hears of it. */
		g->sent = time_mono();
		if (conn_send_argv(c->f->conn, on_unlinked, g, argc, argv, lens) < 0)
			return;
	}
}

/* ---- archive on: DUMP, write, compare-and-delete --------------------------- */

static void on_cad(void *owner, redisReply *r, void *arg);

/* A group's compare-and-delete: EVALSHA, or EVAL with the body after
 * NOSCRIPT (which also caches it); its keys, then what each is compared
 * with. */
static int send_cad(struct group *g, bool by_body)
{
	static const char *argv[2 * FLUSH_CHUNK_MAX + 3];
	static size_t lens[2 * FLUSH_CHUNK_MAX + 3];
	struct chunk *c = g->c;
	char nkeys[16];
	int argc = 0;

	snprintf(nkeys, sizeof(nkeys), "%zu", g->to - g->from);
	argv[argc] = by_body ? "EVAL" : "EVALSHA";
	lens[argc++] = strlen(argv[0]);
	argv[argc] = by_body ? cad_lua.body : cad_lua.sha;
	lens[argc++] = strlen(argv[1]);
	argv[argc] = nkeys;
	lens[argc++] = strlen(nkeys);
	for (size_t i = g->from; i < g->to; i++) {
		argv[argc] = c->e[i]->key;
		lens[argc++] = c->e[i]->klen;
	}
	for (size_t i = g->from; i < g->to; i++) {
		argv[argc] = c->cmp.data + c->cmp_off[i];
		lens[argc++] = c->cmp_len[i];
	}
	g->sent = time_mono();
	return conn_send_argv(c->f->conn, on_cad, g, argc, argv, lens);
}

/* Comparing a small payload itself spares the server a SHA-1 per key
 * (1.5 us of 10 in all, measured), and the daemon one too. */
static void cmp_add(struct chunk *c, size_t i, const char *payload, size_t len)
{
	c->cmp_off[i] = c->cmp.len;
	if (len <= FLUSH_CMP_INLINE_MAX) {
		buf_append(&c->cmp, payload, len);
	} else {
		char hex[41];

		sha1_hex(payload, len, hex);
		buf_append(&c->cmp, hex, 40);
	}
	c->cmp_len[i] = c->cmp.len - c->cmp_off[i];
}

static bool is_noscript(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* After NOSCRIPT a group re-sends with EVAL.  Chunks and groups need not
 * settle in order: each is a set of keys of its own. */

static void on_cad(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	size_t sent = g->to - g->from;

	(void)owner;
	if (is_noscript(r)) {
		send_cad(g, true);
		return;
	}
	answered(g, PACE_CAD, 0);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != sent) {
		/* Archived, not deleted: harmless, a later chunk archives them again. */
		group_failed(g, "compare-and-delete", r);
	} else {
		for (size_t i = 0; i < sent; i++) {
			long long outcome = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : -1;

			c->removed += outcome == 1;
			c->gone += outcome == 0;
			/* Written since: archive it again later. */
			c->fate[g->from + i] = outcome == 1 || outcome == 0 ? DONE : CHANGED;
		}
	}
	if (--c->due == 0)
		step_end(c);
}

/* A group's DUMPs and PTTLs are all in: the records of the keys kept go
 * into the chunk's batch.  Not as each reply comes: the group's round trip,
 * which the budget charges as server time, ends at its last reply, and the
 * encoding and checksums are the daemon's time.
 *
 * The expiry is read just after the DUMP, not with it: a write in between
 * changes the value too (and the compare-and-delete then keeps the key),
 * while a change of the expiry alone, then or later, is not seen, as it
 * never was (DUMP does not carry it). */
static void archive_group(struct group *g, int64_t now_ms)
{
	struct chunk *c = g->c;
	struct flush *f = c->f;
	struct archive_rec rec;

	for (size_t i = g->from; i < g->to; i++) {
		if (c->fate[i] != KEEP)
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.shard = f->name;
		rec.shard_len = strlen(f->name);
		rec.db = f->db;
		rec.key = c->e[i]->key;
		rec.key_len = c->e[i]->klen;
		rec.expire_ms = c->ttl[i] >= 0 ? now_ms + c->ttl[i] : -1;
		rec.payload = c->pay.data + c->pay_off[i];
		rec.payload_len = c->pay_len[i];
		rec.flushed_ms = now_ms;
		if (archive_batch_add(&c->recs, &rec) < 0) {
			/* Beyond what a record can hold: it can never be archived, so
			 * it is never deleted; untracked, it stops blocking the head. */
			log_warn("shard %s: a %zu-byte DUMP is too large to archive; the key stays in Redis, untracked",
				 f->name, rec.payload_len);
			c->fate[i] = DONE;
			continue;
		}
		cmp_add(c, i, rec.payload, rec.payload_len);
	}
	buf_reset(&c->pay);
}

/* A key's DUMP or PTTL failed: the key goes back; the first error of the
 * group is the step's, and the only one that asks for the topology. */
static void key_failed(struct group *g, size_t i, const char *what, const redisReply *r)
{
	struct chunk *c = g->c;

	c->fate[i] = BACK;
	if (g->failed)
		return;
	g->failed = true;
	if (c->error == NULL)
		c->error = xasprintf("%s: %s", what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	if (r->type == REDIS_REPLY_ERROR && is_redirect(r->str) && c->f->redirected != NULL)
		c->f->redirected(c->f->redirect_arg, r->str);
}

/* Replies come in the order sent, DUMP then PTTL of each key in turn, so
 * a group's count of replies says whose this one is. */
static void on_dump_reply(void *owner, redisReply *r, void *arg)
{
	struct group *g = arg;
	struct chunk *c = g->c;
	size_t i = g->from + g->got / 2;
	bool pttl = g->got++ % 2 == 1;
	uint64_t gone;

	(void)owner;
	if (g->got == 1)
		g->cpu = thread_cpu();
	if (!pttl) {
		if (r->type == REDIS_REPLY_STRING) {
			c->pay_off[i] = c->pay.len;
			c->pay_len[i] = r->len;
			buf_append(&c->pay, r->str, r->len);
		} else if (r->type == REDIS_REPLY_NIL) {
			c->fate[i] = DONE;	/* gone already */
			c->gone++;
		} else {
			key_failed(g, i, "DUMP", r);
		}
	} else if (c->fate[i] == KEEP) {
		if (r->type == REDIS_REPLY_INTEGER)
			c->ttl[i] = r->integer;
		else
			key_failed(g, i, "PTTL", r);
	}
	if (g->got < 2 * (g->to - g->from))
		return;
	answered(g, PACE_DUMP, thread_cpu() - g->cpu);
	/* The expiries count from the last reply (the PTTLs' replies came
	 * together, their round trip's length earlier at most). */
	archive_group(g, (int64_t)(time_now() * 1000));
	if (--c->due > 0)
		return;
	gone = c->gone;
	if (step_end(c))
		flush_chunk_archived(c, gone);
}

/* DUMP and PTTL of every key, pipelined: plain commands cost the server
 * less than a script that calls them (bench/README.md, issue 13), and a
 * DUMP needs no slot of its own to stay in.  A step begins. */
static void send_dumps(struct chunk *c)
{
	static const char *const cmds[] = {"DUMP", "PTTL"};

	step_begin(c);
	for (size_t k = 0; k < c->ngroups; k++) {
		struct group *g = &c->g[k];

		g->got = 0;
		g->failed = false;
		g->sent = time_mono();
		for (size_t i = g->from; i < g->to; i++) {
			for (size_t j = 0; j < ARRAY_SIZE(cmds); j++) {
				const char *argv[2] = {cmds[j], c->e[i]->key};
				size_t lens[2] = {4, c->e[i]->klen};

				/* On failure the conn fails, and the flush hears of it. */
				if (conn_send_argv(c->f->conn, on_dump_reply, g, 2, argv, lens) < 0)
					return;
			}
		}
	}
}

void chunk_send(struct chunk *c)
{
	chunk_ready(c);
	if (!c->f->archiving)
		send_unlink(c);
	else
		send_dumps(c);
}


void chunk_send_cad(struct chunk *c)
{
	c->deleting = true;
	c->f->deletes_sent += c->n;
	step_begin(c);
	for (size_t k = 0; k < c->ngroups; k++)
		if (send_cad(&c->g[k], false) < 0)
			return;	/* the conn failed, and the flush heard of it */
}

void chunk_put_back(struct chunk *c)
{
	put_back(c, NULL);
}

void chunk_scripts_init(void)
{
	if (cad_lua.sha[0] != '\0')
		return;
	sha1_hex(cad_lua.body, strlen(cad_lua.body), cad_lua.sha);
}
