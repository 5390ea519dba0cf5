/* shard: one Redis server's connection state machine and its tick.
 *
 * Lifetime rules for the hiredis context (0.14):
 * - hiredis frees the context itself after a failed connect (no disconnect
 *   callback) and after the disconnect callback; we NULL our pointer there.
 * - We never free a context inside one of its callbacks.  A failure seen in
 *   a callback parks the context in dead_ac and frees it from a zero-delay
 *   event, after the callback has returned.
 * - Every callback first checks that the context is still the shard's
 *   current one, so replies that arrive for an abandoned context (or the
 *   NULL replies hiredis sends while freeing it) are ignored. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "shard.h"
#include "util.h"

#define BACKOFF_FIRST_SECS 0.1

/* What a reply answers; passed to hiredis as the privdata. */
enum shard_op {
	OP_AUTH = 1,
	OP_SELECT,
	OP_HANDSHAKE_DONE,	/* PING after AUTH/SELECT: the handshake is complete */
	OP_INFO,
};

struct shard {
	struct shard_conf *conf;
	struct event_base *base;
	struct evdns_base *dns;
	shard_change_fn *on_change;
	void *change_arg;

	enum shard_state state;
	redisAsyncContext *ac;
	redisAsyncContext *dead_ac;	/* to be freed outside its callbacks */
	struct evdns_getaddrinfo_request *dns_req;
	struct event *retry_timer;	/* next connection attempt */
	struct event *deadline_timer;	/* connect or command timeout */
	struct event *tick_timer;	/* INFO memory every period */
	struct event *reap_event;	/* frees dead_ac */
	unsigned pending;		/* commands awaiting a reply */
	unsigned failures;		/* consecutive, for the backoff */
	bool info_in_flight;
	bool paused;

	struct policy policy;
	bool have_memory;
	uint64_t used_memory;
	double used_memory_mono;	/* when it was read */
	char *last_error;
	double last_error_unix;

#define X(name, doc) uint64_t name;
	SHARD_STATS(X)
#undef X
};

static void shard_connect(struct shard *s);
static void send_op(struct shard *s, enum shard_op op, const char *fmt, ...);

static const char *const state_names[] = {"down", "connecting", "connected", "error"};

const char *shard_state_name(enum shard_state st)
{
	return state_names[st];
}

const char *shard_name(const struct shard *s) { return s->conf->name; }
enum shard_state shard_state(const struct shard *s) { return s->state; }
bool shard_paused(const struct shard *s) { return s->paused; }

void shard_set_paused(struct shard *s, bool paused)
{
	if (s->paused != paused)
		log_info("shard %s: %s", s->conf->name, paused ? "paused" : "resumed");
	s->paused = paused;
	s->on_change(s->change_arg);
}

bool shard_over_threshold(const struct shard *s)
{
	return s->have_memory && policy_over_threshold(&s->policy, s->used_memory);
}

static struct timeval tv_of(double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	return tv;
}

static void arm(struct event *ev, double secs)
{
	struct timeval tv = tv_of(secs);

	event_add(ev, &tv);
}

/* ---- failure and backoff ---------------------------------------------------- */

/* Capped exponential backoff with jitter in [d/2, d), so that many daemons
 * (or many shards behind one address) do not retry in lockstep. */
static double backoff_secs(const struct shard *s)
{
	double d = BACKOFF_FIRST_SECS * pow(2.0, (double)(s->failures > 30 ? 30 : s->failures) - 1.0);

	if (d > s->conf->reconnect_max_secs)
		d = s->conf->reconnect_max_secs;
	return d * (0.5 + 0.5 * ((double)random() / (double)RAND_MAX));
}

static void set_error(struct shard *s, const char *msg)
{
	/* Log a new error loudly; a retry failing the same way stays quiet. */
	if (s->last_error == NULL || strcmp(s->last_error, msg) != 0)
		log_warn("shard %s: %s", s->conf->name, msg);
	else
		log_debug("shard %s: %s", s->conf->name, msg);
	free(s->last_error);
	s->last_error = xstrdup(msg);
	s->last_error_unix = time_now();
}

/* Stops every timer and request of the current connection.  Safe inside a
 * hiredis callback: the context is only parked. */
static void abandon_connection(struct shard *s)
{
	if (s->dns_req != NULL) {
		struct evdns_getaddrinfo_request *req = s->dns_req;

		s->dns_req = NULL;	/* the cancel callback must not find it */
		evdns_getaddrinfo_cancel(req);
	}
	if (s->ac != NULL) {
		s->dead_ac = s->ac;
		s->ac = NULL;
		event_active(s->reap_event, EV_TIMEOUT, 0);
	}
	event_del(s->deadline_timer);
	event_del(s->tick_timer);
	event_del(s->retry_timer);
	s->pending = 0;
	s->info_in_flight = false;
}

static void shard_fail(struct shard *s, enum shard_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void shard_fail(struct shard *s, enum shard_state st, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	double delay;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	set_error(s, msg);
	free(msg);

	abandon_connection(s);
	s->state = st;
	s->failures++;
	s->connect_failures_total++;
	delay = backoff_secs(s);
	log_debug("shard %s: retrying in %.2fs", s->conf->name, delay);
	arm(s->retry_timer, delay);
	s->on_change(s->change_arg);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct shard *s = arg;
	redisAsyncContext *ac = s->dead_ac;

	(void)fd;
	(void)what;
	s->dead_ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);	/* its callbacks see ac != s->ac and return */
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shard_connect(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct shard *s = arg;

	(void)fd;
	(void)what;
	if (s->state == SHARD_CONNECTING)
		shard_fail(s, SHARD_DOWN, "connect: timed out after %gs", s->conf->connect_timeout_secs);
	else
		shard_fail(s, SHARD_DOWN, "no reply within %gs (command_timeout_secs)", s->conf->command_timeout_secs);
}

/* ---- commands and replies --------------------------------------------------- */

/* The command timeout measures time without progress: it restarts with
 * every reply and stops when nothing is outstanding.  While connecting, the
 * connect timeout covers the handshake as a whole. */
static void rearm_deadline(struct shard *s)
{
	if (s->state == SHARD_CONNECTING)
		return;
	if (s->pending == 0)
		event_del(s->deadline_timer);
	else
		arm(s->deadline_timer, s->conf->command_timeout_secs);
}

static bool is_refusal(const char *err)
{
	/* Errors that retrying cannot fix until someone changes a password,
	 * an ACL or our config. */
	static const char *const prefixes[] = {"NOAUTH", "WRONGPASS", "NOPERM", "ERR invalid password",
					       "ERR AUTH", "ERR Client sent AUTH", "ERR DB index", "ERR invalid DB"};

	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (strncmp(err, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

static bool parse_used_memory(const char *info, uint64_t *out)
{
	const char *p = info;

	while ((p = strstr(p, "used_memory:")) != NULL) {
		if (p == info || p[-1] == '\n') {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(p + strlen("used_memory:"), &end, 10);
			if (errno != 0 || (*end != '\r' && *end != '\n' && *end != '\0'))
				return false;
			*out = v;
			return true;
		}
		p++;
	}
	return false;
}

static void on_info(struct shard *s, redisReply *r)
{
	uint64_t used;

	s->info_in_flight = false;
	if (r->type == REDIS_REPLY_ERROR) {
		if (is_refusal(r->str))
			shard_fail(s, SHARD_ERROR, "INFO memory: %s", r->str);
		else
			set_error(s, r->str);	/* e.g. LOADING: stay connected, try next tick */
		s->on_change(s->change_arg);
		return;
	}
	if ((r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) ||
	    !parse_used_memory(r->str, &used)) {
		set_error(s, "INFO memory: reply without used_memory");
		s->on_change(s->change_arg);
		return;
	}
	s->have_memory = true;
	s->used_memory = used;
	s->used_memory_mono = time_mono();
	s->ticks_total++;
	log_debug("shard %s: used_memory %llu (threshold %llu)", s->conf->name,
		  (unsigned long long)used, (unsigned long long)s->policy.flush_when_at_least_bytes);
	s->on_change(s->change_arg);
}

static void on_handshake_done(struct shard *s)
{
	struct timeval period = tv_of(s->conf->flush_period_secs);

	event_del(s->deadline_timer);
	s->state = SHARD_CONNECTED;
	s->failures = 0;
	s->connects_total++;
	log_info("shard %s: connected to %s (db %llu)", s->conf->name, s->conf->address,
		 (unsigned long long)s->conf->db);
	event_add(s->tick_timer, &period);
	send_op(s, OP_INFO, "INFO memory");
	s->info_in_flight = true;
	s->on_change(s->change_arg);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct shard *s = ac->data;
	redisReply *r = reply;
	enum shard_op op = (enum shard_op)(uintptr_t)privdata;

	if (s == NULL || ac != s->ac || r == NULL)
		return;
	s->pending--;
	rearm_deadline(s);
	switch (op) {
	case OP_AUTH:
	case OP_SELECT:
		if (r->type == REDIS_REPLY_ERROR)
			shard_fail(s, SHARD_ERROR, "%s: %s", op == OP_AUTH ? "AUTH" : "SELECT", r->str);
		break;
	case OP_HANDSHAKE_DONE:
		if (r->type == REDIS_REPLY_ERROR)
			shard_fail(s, is_refusal(r->str) ? SHARD_ERROR : SHARD_DOWN, "handshake: %s", r->str);
		else
			on_handshake_done(s);
		break;
	case OP_INFO:
		on_info(s, r);
		break;
	}
}

static void send_op(struct shard *s, enum shard_op op, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = redisvAsyncCommand(s->ac, on_reply, (void *)(uintptr_t)op, fmt, ap);
	va_end(ap);
	if (rc != REDIS_OK) {
		shard_fail(s, SHARD_DOWN, "cannot send command: %s", s->ac->errstr);
		return;
	}
	if (s->pending++ == 0)
		rearm_deadline(s);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct shard *s = arg;

	(void)fd;
	(void)what;
	if (s->state != SHARD_CONNECTED || s->info_in_flight)
		return;	/* a slow INFO is the command timeout's business */
	s->info_in_flight = true;
	send_op(s, OP_INFO, "INFO memory");
}

/* ---- connecting ------------------------------------------------------------- */

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct shard *s = ac->data;
	const struct shard_conf *c;

	if (s == NULL || ac != s->ac)
		return;
	c = s->conf;
	if (status != REDIS_OK) {
		s->ac = NULL;	/* hiredis frees it when we return */
		shard_fail(s, SHARD_DOWN, "connect: %s", ac->errstr);
		return;
	}
	/* Pipeline the handshake; the PING reply says all of it is done. */
	if (c->secret != NULL && *c->username)
		send_op(s, OP_AUTH, "AUTH %s %s", c->username, c->secret);
	else if (c->secret != NULL)
		send_op(s, OP_AUTH, "AUTH %s", c->secret);
	if (s->ac != NULL && c->db != 0)
		send_op(s, OP_SELECT, "SELECT %llu", (unsigned long long)c->db);
	if (s->ac != NULL)
		send_op(s, OP_HANDSHAKE_DONE, "PING");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct shard *s = ac->data;

	(void)status;
	if (s == NULL)
		return;
	if (ac == s->dead_ac) {
		s->dead_ac = NULL;	/* hiredis frees it: never free it again */
		return;
	}
	if (ac != s->ac)
		return;
	s->ac = NULL;	/* hiredis frees it when we return */
	shard_fail(s, SHARD_DOWN, "connection lost: %s", ac->err ? ac->errstr : "closed by server");
}

static void connect_to(struct shard *s, const char *ip, int port)
{
	redisAsyncContext *ac;

	if (s->conf->addr.is_unix)
		ac = redisAsyncConnectUnix(s->conf->addr.path);
	else
		ac = redisAsyncConnect(ip, port);
	if (ac == NULL) {
		shard_fail(s, SHARD_DOWN, "connect: out of memory");
		return;
	}
	if (ac->err) {
		char *msg = xstrdup(ac->errstr);

		redisAsyncFree(ac);	/* ours alone: no callbacks are set yet */
		shard_fail(s, SHARD_DOWN, "connect: %s", msg);
		free(msg);
		return;
	}
	ac->data = s;
	s->ac = ac;
	redisLibeventAttach(ac, s->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

/* Resolution runs through evdns so that a slow DNS server never blocks
 * the loop; hiredis then gets a numeric address. */
static void on_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct shard *s = arg;
	char ip[INET6_ADDRSTRLEN];
	const void *addr;

	if (result == EVUTIL_EAI_CANCEL)
		return;	/* abandoned: s may be gone */
	s->dns_req = NULL;
	if (result != 0 || res == NULL) {
		shard_fail(s, SHARD_DOWN, "resolve %s: %s", s->conf->addr.host, evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	if (res->ai_family == AF_INET6)
		addr = &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr;
	else
		addr = &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
	evutil_inet_ntop(res->ai_family, addr, ip, sizeof(ip));
	evutil_freeaddrinfo(res);
	connect_to(s, ip, s->conf->addr.port);
}

static void shard_connect(struct shard *s)
{
	struct evutil_addrinfo hints;

	s->state = SHARD_CONNECTING;
	s->on_change(s->change_arg);
	arm(s->deadline_timer, s->conf->connect_timeout_secs);
	if (s->conf->addr.is_unix) {
		connect_to(s, NULL, 0);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* The callback may run before this returns (numeric hosts): it then
	 * returns NULL and the request is already done. */
	s->dns_req = evdns_getaddrinfo(s->dns, s->conf->addr.host, NULL, &hints, on_resolved, s);
}

/* ---- lifetime ---------------------------------------------------------------- */

struct shard *shard_new(struct event_base *base, struct evdns_base *dns, struct shard_conf *sc,
			shard_change_fn *on_change, void *arg)
{
	struct shard *s = xcalloc(1, sizeof(*s));

	s->conf = sc;
	s->base = base;
	s->dns = dns;
	s->on_change = on_change;
	s->change_arg = arg;
	s->state = SHARD_CONNECTING;	/* shard_start follows at once */
	policy_from_conf(&s->policy, sc);
	s->retry_timer = evtimer_new(base, on_retry, s);
	s->deadline_timer = evtimer_new(base, on_deadline, s);
	s->tick_timer = event_new(base, -1, EV_PERSIST, on_tick, s);
	s->reap_event = event_new(base, -1, 0, on_reap, s);
	if (!s->retry_timer || !s->deadline_timer || !s->tick_timer || !s->reap_event) {
		log_error("out of memory creating events");
		abort();
	}
	return s;
}

void shard_start(struct shard *s)
{
	shard_connect(s);
}

/* Closes the connection now.  Only for callers outside hiredis callbacks. */
static void close_now(struct shard *s)
{
	abandon_connection(s);
	event_del(s->reap_event);
	on_reap(-1, 0, s);
}

void shard_reconfigure(struct shard *s, struct shard_conf *sc)
{
	bool reconnect = !conf_shard_conn_equal(s->conf, sc);
	bool new_period = s->conf->flush_period_secs != sc->flush_period_secs;
	double last_flush = s->policy.last_flush;

	s->conf = sc;
	policy_from_conf(&s->policy, sc);
	s->policy.last_flush = last_flush;
	if (reconnect) {
		log_info("shard %s: connection settings changed; reconnecting", sc->name);
		close_now(s);
		s->failures = 0;
		shard_connect(s);
	} else if (new_period && s->state == SHARD_CONNECTED) {
		struct timeval period = tv_of(sc->flush_period_secs);

		event_add(s->tick_timer, &period);
	}
	s->on_change(s->change_arg);
}

void shard_free(struct shard *s)
{
	if (s == NULL)
		return;
	close_now(s);
	event_free(s->retry_timer);
	event_free(s->deadline_timer);
	event_free(s->tick_timer);
	event_free(s->reap_event);
	free(s->last_error);
	free(s);
}

/* ---- status ------------------------------------------------------------------ */

static void settings_json(const struct shard *s, struct json *j)
{
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	struct buf v;

	buf_init(&v);
	json_key(j, "settings");
	json_obj_begin(j);
	for (size_t i = 0; i < n; i++) {
		const struct conf_key *k = &keys[i];

		if (k->scope == CS_DAEMON || (k->flags & CK_SECRET))
			continue;
		json_key(j, k->name);
		json_obj_begin(j);
		json_key(j, "value");
		buf_reset(&v);
		conf_format_value(k, s->conf, &v);
		if (k->type == CT_STR)
			json_str(j, v.data);
		else if (k->type == CT_BOOL)
			json_bool(j, strcmp(v.data, "yes") == 0);
		else
			json_raw(j, v.data);
		json_key(j, "source");
		json_str(j, conf_source_name((enum conf_source)s->conf->source[i]));
		json_obj_end(j);
	}
	json_obj_end(j);
	buf_free(&v);
}

void shard_status_json(const struct shard *s, struct json *j)
{
	json_obj_begin(j);
	json_key(j, "name");
	json_str(j, s->conf->name);
	json_key(j, "address");
	json_str(j, s->conf->address);
	json_key(j, "db");
	json_uint(j, s->conf->db);
	json_key(j, "state");
	json_str(j, shard_state_name(s->state));
	json_key(j, "paused");
	json_bool(j, s->paused);
	json_key(j, "used_memory");
	if (s->have_memory)
		json_uint(j, s->used_memory);
	else
		json_null(j);
	json_key(j, "used_memory_age_s");
	if (s->have_memory)
		json_double(j, round((time_mono() - s->used_memory_mono) * 1000) / 1000);
	else
		json_null(j);
	json_key(j, "flush_when_at_least_bytes");
	json_uint(j, s->policy.flush_when_at_least_bytes);
	json_key(j, "flush_period_secs");
	json_double(j, s->policy.flush_period_secs);
	json_key(j, "flush_num_entries_each_time");
	json_uint(j, s->policy.flush_num_entries_each_time);
	json_key(j, "over_threshold");
	json_bool(j, shard_over_threshold(s));
	json_key(j, "last_error");
	json_str(j, s->last_error);
	json_key(j, "last_error_unix");
	if (s->last_error != NULL)
		json_double(j, round(s->last_error_unix * 1000) / 1000);
	else
		json_null(j);
#define X(name, doc) json_key(j, #name); json_uint(j, s->name);
	SHARD_STATS(X)
#undef X
	settings_json(s, j);
	json_obj_end(j);
}
