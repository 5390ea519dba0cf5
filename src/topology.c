/* topology: discovery of a cluster's masters and slots, or of a Sentinel
 * shard's master.
 *
 * One discovery connection at a time, to one seed or sentinel; when it is
 * lost or answers uselessly, the next one is tried.  A cluster is read
 * with CLUSTER SHARDS (7.0; CLUSTER SLOTS before) about once a second and
 * compared with the last reading, since cluster_current_epoch does not
 * move on every slot migration.  A Sentinel shard asks
 * SENTINEL get-master-addr-by-name as often, and a second connection to
 * the same sentinel subscribes to +switch-master so that a failover is
 * seen at once rather than at the next poll. */
#include "config.h"

#include <hiredis/hiredis.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "secret.h"
#include "timer.h"
#include "topology.h"
#include "util.h"

#define TOPOLOGY_REFRESH_SECS 1.0

struct topology {
	enum topology_kind kind;
	const struct topology_ops *ops;
	void *owner;
	char *name;			/* the shard's, for the log */
	char *master_name;		/* sentinel_master */
	char **seeds;			/* cluster seeds or sentinels, host:port */
	size_t nseeds, cur;
	struct shard_conf *conf;	/* our copy: credentials and timeouts */
	struct parse_addr addr;		/* the current seed's, parsed */
	bool opening;			/* the discovery connection is being made */
	struct conn *conn;		/* discovery */
	struct conn *sub;		/* a sentinel's +switch-master */
	struct event *timer, *soon;
	bool asking;			/* a query is in flight */
	bool tried_slots;		/* CLUSTER SHARDS is unknown: CLUSTER SLOTS */
	struct topology_master *last;	/* the last reading */
	size_t nlast;
	bool have_last;
};

enum topology_kind topology_kind_of(const struct shard_conf *sc)
{
	if (*sc->cluster)
		return TOPOLOGY_CLUSTER;
	if (*sc->sentinels)
		return TOPOLOGY_SENTINEL;
	return TOPOLOGY_STANDALONE;
}

const char *topology_kind_name(enum topology_kind k)
{
	static const char *const names[] = {"standalone", "cluster", "sentinel"};

	return names[k];
}

/* ---- readings ------------------------------------------------------------------ */

static void masters_free(struct topology_master *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].address);
	free(m);
}

static int master_cmp(const void *a, const void *b)
{
	return strcmp(((const struct topology_master *)a)->address, ((const struct topology_master *)b)->address);
}

static bool same_masters(const struct topology_master *a, size_t na, const struct topology_master *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].address, b[i].address) != 0 || !slot_set_equal(&a[i].slots, &b[i].slots))
			return false;
	return true;
}

/* Takes a reading (owning m); tells the owner when it differs from the last. */
static void reading(struct topology *t, struct topology_master *m, size_t n)
{
	qsort(m, n, sizeof(*m), master_cmp);
	if (t->have_last && same_masters(t->last, t->nlast, m, n)) {
		masters_free(m, n);
		return;
	}
	masters_free(t->last, t->nlast);
	t->last = m;
	t->nlast = n;
	t->have_last = true;
	log_info("shard %s: %zu master%s: %s%s", t->name, n, n == 1 ? "" : "s", n ? m[0].address : "none",
		 n > 1 ? ", ..." : "");
	t->ops->changed(t->owner, m, n);
}

/* "host:port", bracketing an IPv6 address. */
static char *address_of(const char *host, long long port)
{
	return strchr(host, ':') ? xasprintf("[%s]:%lld", host, port) : xasprintf("%s:%lld", host, port);
}

/* ---- a cluster ------------------------------------------------------------------- */

/* A value in a flat [key, value, ...] array, or NULL. */
static const redisReply *field(const redisReply *map, const char *key)
{
	if (map->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < map->elements; i += 2)
		if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, key) == 0)
			return map->element[i + 1];
	return NULL;
}

static const char *text(const redisReply *r)
{
	return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : NULL;
}

/* The online master of one CLUSTER SHARDS entry, into m; false if none. */
static bool shard_master(const redisReply *sh, struct topology_master *m)
{
	const redisReply *slots = field(sh, "slots"), *nodes = field(sh, "nodes");

	if (slots == NULL || nodes == NULL || slots->type != REDIS_REPLY_ARRAY || nodes->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i < nodes->elements; i++) {
		const redisReply *nd = nodes->element[i], *port = field(nd, "port");
		const char *role = text(field(nd, "role")), *health = text(field(nd, "health"));
		const char *ip = text(field(nd, "ip"));

		if (role == NULL || strcmp(role, "master") != 0 || (health != NULL && strcmp(health, "online") != 0) ||
		    ip == NULL || port == NULL || port->type != REDIS_REPLY_INTEGER)
			continue;
		m->address = address_of(ip, port->integer);
		slot_set_clear(&m->slots);
		for (size_t k = 0; k + 1 < slots->elements; k += 2)
			if (slots->element[k]->type == REDIS_REPLY_INTEGER && slots->element[k + 1]->type == REDIS_REPLY_INTEGER)
				slot_set_add_range(&m->slots, slots->element[k]->integer, slots->element[k + 1]->integer);
		return true;
	}
	return false;
}

static void on_lost_seed(struct topology *t, const char *why);

static void on_shards(void *owner, redisReply *r, void *arg)
{
	struct topology *t = arg;
	struct topology_master *m;
	size_t n = 0;

	(void)owner;
	t->asking = false;
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "nknown") != NULL && !t->tried_slots) {
		t->tried_slots = true;	/* before 7.0 */
		topology_refresh(t);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		on_lost_seed(t, r->type == REDIS_REPLY_ERROR ? r->str : "CLUSTER SHARDS: unexpected reply");
		return;
	}
	m = xcalloc(r->elements + 1, sizeof(*m));
	for (size_t i = 0; i < r->elements; i++)
		n += shard_master(r->element[i], &m[n]);
	reading(t, m, n);
}

/* CLUSTER SLOTS: [start, end, [ip, port, id], replicas...] per range. */
static void on_slots(void *owner, redisReply *r, void *arg)
{
	struct topology *t = arg;
	struct topology_master *m;
	size_t n = 0;

	(void)owner;
	t->asking = false;
	if (r->type != REDIS_REPLY_ARRAY) {
		on_lost_seed(t, r->type == REDIS_REPLY_ERROR ? r->str : "CLUSTER SLOTS: unexpected reply");
		return;
	}
	m = xcalloc(r->elements + 1, sizeof(*m));
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i], *who;
		char *addr;
		size_t k;

		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || (who = e->element[2])->type != REDIS_REPLY_ARRAY ||
		    who->elements < 2 || text(who->element[0]) == NULL || who->element[1]->type != REDIS_REPLY_INTEGER)
			continue;
		addr = address_of(text(who->element[0]), who->element[1]->integer);
		for (k = 0; k < n && strcmp(m[k].address, addr) != 0; k++)
			;
		if (k == n) {
			m[n].address = addr;
			slot_set_clear(&m[n++].slots);
		} else {
			free(addr);
		}
		slot_set_add_range(&m[k].slots, e->element[0]->integer, e->element[1]->integer);
	}
	reading(t, m, n);
}

/* ---- a Sentinel ------------------------------------------------------------------- */

static void on_master_addr(void *owner, redisReply *r, void *arg)
{
	struct topology *t = arg;
	struct topology_master *m;

	(void)owner;
	t->asking = false;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || text(r->element[0]) == NULL ||
	    text(r->element[1]) == NULL) {
		char *why = r->type == REDIS_REPLY_ERROR ? xstrdup(r->str)
			    : xasprintf("sentinel knows no master named '%s'", t->master_name);

		on_lost_seed(t, why);
		free(why);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	m->address = address_of(text(r->element[0]), atoll(text(r->element[1])));
	slot_set_clear(&m->slots);
	slot_set_add_range(&m->slots, 0, SLOT_COUNT - 1);
	reading(t, m, 1);
}

static void on_switch(void *owner, redisReply *r, void *arg)
{
	struct topology *t = arg;

	(void)owner;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && text(r->element[0]) != NULL &&
	    strcmp(text(r->element[0]), "message") == 0) {
		log_info("shard %s: sentinel: +switch-master %s", t->name, text(r->element[2]) ? text(r->element[2]) : "");
		topology_refresh(t);
	} else if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && text(r->element[0]) != NULL &&
		   strcmp(text(r->element[0]), "subscribe") == 0) {
		conn_subscribed(t->sub);
	}
}

static void on_sub_ready(void *owner, struct conn *c)
{
	const char *argv[2] = {"SUBSCRIBE", "+switch-master"};

	conn_subscribe(c, on_switch, owner, 2, argv);
}

/* ---- asking ----------------------------------------------------------------------- */

static void ask(struct topology *t)
{
	if (t->asking || !conn_ready(t->conn))
		return;
	if (t->kind == TOPOLOGY_SENTINEL) {
		if (conn_send(t->conn, on_master_addr, t, "SENTINEL get-master-addr-by-name %s", t->master_name) == 0)
			t->asking = true;
	} else if (t->tried_slots) {
		if (conn_send(t->conn, on_slots, t, "CLUSTER SLOTS") == 0)
			t->asking = true;
	} else if (conn_send(t->conn, on_shards, t, "CLUSTER SHARDS") == 0) {
		t->asking = true;
	}
}

static void on_ready(void *owner, struct conn *c)
{
	struct topology *t = owner;

	(void)c;
	t->opening = false;
	if (t->kind == TOPOLOGY_SENTINEL)
		conn_open(t->sub);
	ask(t);
}

/* Opens the discovery connection to the current seed. */
static void open_seed(struct topology *t)
{
	struct conn_params p;
	const char *err;

	parse_addr_free(&t->addr);
	if (parse_address(t->seeds[t->cur], &t->addr, &err) < 0)
		abort();	/* the config checked every seed */
	conn_params_from_conf(&p, t->conf);
	p.addr = t->addr;
	p.db = 0;
	if (t->kind == TOPOLOGY_SENTINEL) {
		p.username = t->conf->sentinel_username;
		p.secret = t->conf->sentinel_secret;
	}
	conn_set_params(t->conn, &p);
	if (t->sub != NULL)
		conn_set_params(t->sub, &p);
	t->opening = true;
	conn_open(t->conn);
}

/* The current seed failed or answered uselessly: the next one, at the next tick. */
static void on_lost_seed(struct topology *t, const char *why)
{
	char *msg = xasprintf("%s %s: %s", t->kind == TOPOLOGY_SENTINEL ? "sentinel" : "cluster seed",
			      t->seeds[t->cur], why);

	t->asking = false;
	t->opening = false;
	conn_close(t->conn, "next seed");
	if (t->sub != NULL)
		conn_close(t->sub, "next seed");
	t->cur = (t->cur + 1) % t->nseeds;
	t->ops->error(t->owner, msg);
	free(msg);
}

static void on_conn_lost(void *arg, const struct conn_loss *loss)
{
	struct topology *t = arg;

	t->asking = false;
	t->opening = false;
	if (!loss->closed)
		on_lost_seed(t, loss->msg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct topology *t = arg;

	(void)fd;
	(void)what;
	if (!conn_ready(t->conn)) {
		if (!t->opening)
			open_seed(t);
		return;
	}
	ask(t);
}

void topology_refresh(struct topology *t)
{
	event_active(t->soon, EV_TIMEOUT, 0);
}

/* ---- lifetime ---------------------------------------------------------------------- */

static void set_conf(struct topology *t, const struct shard_conf *sc)
{
	char *list = xstrdup(t->kind == TOPOLOGY_CLUSTER ? sc->cluster : sc->sentinels), *save = NULL;

	for (size_t i = 0; i < t->nseeds; i++)
		free(t->seeds[i]);
	free(t->seeds);
	t->seeds = NULL;
	t->nseeds = 0;
	for (char *s = strtok_r(list, " \t", &save); s != NULL; s = strtok_r(NULL, " \t", &save)) {
		t->seeds = xrealloc(t->seeds, (t->nseeds + 1) * sizeof(*t->seeds));
		t->seeds[t->nseeds++] = xstrdup(s);
	}
	free(list);
	t->cur %= t->nseeds;
	free(t->name);
	t->name = xstrdup(sc->name);
	free(t->master_name);
	t->master_name = xstrdup(sc->sentinel_master);
	conf_shard_free(t->conf);
	t->conf = conf_shard_dup(sc);
}

struct topology *topology_new(struct event_base *base, struct evdns_base *dns, const struct shard_conf *sc,
			      const struct topology_ops *ops, void *owner)
{
	struct topology *t = xcalloc(1, sizeof(*t));

	t->kind = topology_kind_of(sc);
	t->ops = ops;
	t->owner = owner;
	t->conn = conn_new(base, dns, on_ready, t);
	conn_on_lost(t->conn, on_conn_lost, t);
	if (t->kind == TOPOLOGY_SENTINEL) {
		t->sub = conn_new(base, dns, on_sub_ready, t);
		conn_on_lost(t->sub, on_conn_lost, t);
	}
	t->timer = event_new(base, -1, EV_PERSIST, on_timer, t);
	t->soon = event_new(base, -1, 0, on_timer, t);
	if (t->timer == NULL || t->soon == NULL)
		abort();
	set_conf(t, sc);
	return t;
}

void topology_start(struct topology *t)
{
	timer_arm(t->timer, TOPOLOGY_REFRESH_SECS);
	open_seed(t);
}

void topology_reconfigure(struct topology *t, const struct shard_conf *sc)
{
	set_conf(t, sc);
	conn_close(t->conn, "reconfigured");
	if (t->sub != NULL)
		conn_close(t->sub, "reconfigured");
	t->asking = false;
	t->opening = false;
	open_seed(t);
}

const char *topology_source(const struct topology *t)
{
	return conn_ready(t->conn) ? t->seeds[t->cur] : NULL;
}

void topology_free(struct topology *t)
{
	if (t == NULL)
		return;
	conn_free(t->conn);
	conn_free(t->sub);
	event_free(t->timer);
	event_free(t->soon);
	for (size_t i = 0; i < t->nseeds; i++)
		free(t->seeds[i]);
	free(t->seeds);
	parse_addr_free(&t->addr);
	masters_free(t->last, t->nlast);
	conf_shard_free(t->conf);
	free(t->name);
	free(t->master_name);
	free(t);
}
