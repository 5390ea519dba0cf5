/* daemon: the running daemon: its config, its shards, the control socket
 * and the resolver; start, reload (parse fresh, validate, swap) and the
 * STATUS= line.  What a shard does is the shard's: the daemon only starts,
 * reconfigures and stops them. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "cmd.h"
#include "ctl.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"

/* "1 shard", "3 shards", or "no shards configured". */
static const char *shard_count(size_t n)
{
	static char text[32];

	if (n == 0)
		return "no shards configured";
	snprintf(text, sizeof(text), "%zu shard%s", n, n == 1 ? "" : "s");
	return text;
}

static void on_shard_change(void *arg)
{
	daemon_update_status(arg);
}

static struct shard *start_shard(struct daemon *d, const struct shard_conf *sc)
{
	struct shard *s = shard_new(d->base, d->dns, sc, d->conf->state_dir, on_shard_change, d);

	shard_start(s);
	return s;
}

/* Creates state_dir (mode 0750) when missing: later parts keep state there,
 * so a daemon that cannot write it should say so at start, not hours later. */
static int ensure_state_dir(const char *path, char **err)
{
	struct stat st;

	if (mkdir(path, 0750) < 0 && errno != EEXIST) {
		*err = xasprintf("state_dir %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*err = xasprintf("state_dir %s: not a directory", path);
		return -1;
	}
	if (access(path, W_OK | X_OK) < 0) {
		*err = xasprintf("state_dir %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int daemon_init(struct daemon *d, struct event_base *base, struct conf *conf, char **err)
{
	memset(d, 0, sizeof(*d));
	d->base = base;
	d->conf = conf;
	d->start_mono = time_mono();
	log_set_level((enum log_level)conf->log_level);
	if (ensure_state_dir(conf->state_dir, err) < 0)
		return -1;
	/* Resolve names without blocking the loop.  Without a usable
	 * resolv.conf, numeric addresses and /etc/hosts still work. */
	d->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (d->dns == NULL)
		d->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (d->dns == NULL) {
		*err = xstrdup("cannot create the DNS resolver");
		return -1;
	}
	d->ctl_group = getegid();
	if (*conf->control_socket_group) {
		/* At start-up only: a name lookup may block. */
		struct group *g = getgrnam(conf->control_socket_group);

		if (g == NULL) {
			*err = xasprintf("control_socket_group: no group named '%s'", conf->control_socket_group);
			return -1;
		}
		d->ctl_group = g->gr_gid;
	}
	d->ctl = ctl_open(base, conf->control_socket, (mode_t)conf->control_socket_mode,
			  *conf->control_socket_group ? d->ctl_group : (gid_t)-1, conf->control_socket_group, cmd_handle,
			  d, err);
	if (d->ctl == NULL)
		return -1;
	d->shards = xcalloc(conf->nshards, sizeof(*d->shards));
	for (size_t i = 0; i < conf->nshards; i++)
		d->shards[i] = shard_new(d->base, d->dns, conf->shards[i], conf->state_dir, on_shard_change, d);
	d->nshards = conf->nshards;
	for (size_t i = 0; i < d->nshards; i++)
		shard_start(d->shards[i]);
	log_notice("gcs-flushd %s started: %s, control socket %s", PACKAGE_VERSION, shard_count(conf->nshards),
		   conf->control_socket);
	daemon_update_status(d);
	return 0;
}

void daemon_fini(struct daemon *d)
{
	/* Shards first: a forced flush still running answers its client, whom
	 * ctl_close then drops. */
	d->freeing = true;
	for (size_t i = 0; i < d->nshards; i++)
		shard_free(d->shards[i]);
	free(d->shards);
	d->shards = NULL;
	d->nshards = 0;
	ctl_close(d->ctl);
	d->ctl = NULL;
	/* A resolution the shards cancelled frees itself in a deferred
	 * callback: let those run before the resolver goes, or they leak. */
	if (d->dns != NULL) {
		event_base_loop(d->base, EVLOOP_NONBLOCK);
		evdns_base_free(d->dns, 0);
	}
	d->dns = NULL;
	conf_free(d->conf);
	d->conf = NULL;
}

struct shard *daemon_shard(const struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nshards; i++)
		if (strcmp(shard_name(d->shards[i]), name) == 0)
			return d->shards[i];
	return NULL;
}

/* Daemon keys a reload cannot apply: say so rather than pretend. */
static void warn_restart_keys(const struct conf *old, const struct conf *new)
{
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	struct buf a, b;

	buf_init(&a);
	buf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (!(keys[i].flags & CK_RESTART))
			continue;
		buf_reset(&a);
		buf_reset(&b);
		conf_format_value(&keys[i], old, &a);
		conf_format_value(&keys[i], new, &b);
		if (strcmp(a.data, b.data) != 0)
			log_warn("reload: %s changed from %s to %s; it takes effect at the next restart",
				 keys[i].name, a.data, b.data);
	}
	buf_free(&a);
	buf_free(&b);
}

static void name_list(struct json *j, const char *key, struct buf *names)
{
	json_key(j, key);
	json_arr_begin(j);
	for (const char *p = names->data; p < names->data + names->len; p += strlen(p) + 1)
		json_str(j, p);
	json_arr_end(j);
}

/* Logs each config error on a line of its own, so each keeps its priority
 * prefix; errors is "FILE:LINE: ..." lines. */
static void log_reload_errors(struct buf *errors)
{
	if (errors->len > 0 && errors->data[errors->len - 1] == '\n')
		errors->data[--errors->len] = '\0';
	for (char *p = errors->data, *nl; p != NULL && *p != '\0'; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		log_error("reload failed, keeping the running config: %.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
	}
}

/* What a reload did to each shard, by name: NUL-separated lists. */
struct reload_names {
	struct buf added, removed, changed, unchanged;
};

static void add_name(struct buf *b, const char *name)
{
	buf_append(b, name, strlen(name) + 1);
}

/* Starts, reconfigures or keeps each shard of nc; returns the new array. */
static struct shard **apply_shards(struct daemon *d, const struct conf *nc, struct reload_names *rn)
{
	struct shard **shards = xcalloc(nc->nshards, sizeof(*shards));

	for (size_t i = 0; i < nc->nshards; i++) {
		const struct shard_conf *sc = nc->shards[i];
		struct shard *s = daemon_shard(d, sc->name);

		if (s == NULL) {
			log_info("reload: shard %s added", sc->name);
			add_name(&rn->added, sc->name);
			shards[i] = start_shard(d, sc);
			continue;
		}
		if (conf_shard_equal(conf_shard_find(d->conf, sc->name), sc)) {
			add_name(&rn->unchanged, sc->name);
		} else {
			log_info("reload: shard %s changed", sc->name);
			add_name(&rn->changed, sc->name);
		}
		shard_reconfigure(s, sc);
		shards[i] = s;
	}
	return shards;
}

/* Stops the shards the new config no longer names. */
static void stop_removed(struct daemon *d, const struct conf *nc, struct reload_names *rn)
{
	for (size_t i = 0; i < d->nshards; i++) {
		const char *name = shard_name(d->shards[i]);

		if (conf_shard_find(nc, name) != NULL)
			continue;
		log_info("reload: shard %s removed", name);
		add_name(&rn->removed, name);
		d->freeing = true;
		shard_free(d->shards[i]);
		d->freeing = false;
	}
}

int daemon_reload(struct daemon *d, struct json *j, char **err)
{
	struct reload_names rn;
	struct buf errors;
	struct conf *nc;
	struct shard **shards;

	notify_reloading();
	buf_init(&errors);
	nc = conf_load(d->conf->path, &errors);
	if (nc == NULL) {
		log_reload_errors(&errors);
		*err = errors.data;
		notify_ready();
		return -1;
	}
	buf_free(&errors);
	warn_restart_keys(d->conf, nc);
	conf_keep_restart_keys(nc, d->conf);
	buf_init(&rn.added);
	buf_init(&rn.removed);
	buf_init(&rn.changed);
	buf_init(&rn.unchanged);
	shards = apply_shards(d, nc, &rn);
	stop_removed(d, nc, &rn);
	free(d->shards);
	d->shards = shards;
	d->nshards = nc->nshards;
	conf_free(d->conf);
	d->conf = nc;
	log_set_level((enum log_level)nc->log_level);
	if (j != NULL) {
		name_list(j, "added", &rn.added);
		name_list(j, "removed", &rn.removed);
		name_list(j, "changed", &rn.changed);
		name_list(j, "unchanged", &rn.unchanged);
	}
	log_notice("reloaded %s: %s", nc->path, shard_count(nc->nshards));
	buf_free(&rn.added);
	buf_free(&rn.removed);
	buf_free(&rn.changed);
	buf_free(&rn.unchanged);
	daemon_update_status(d);
	notify_ready();
	return 0;
}

void daemon_status_json(const struct daemon *d, struct json *j)
{
	json_key(j, "version");
	json_str(j, PACKAGE_VERSION);
	json_key(j, "pid");
	json_int(j, (int64_t)getpid());
	json_key(j, "uptime_s");
	json_uint(j, (uint64_t)(time_mono() - d->start_mono));
	json_key(j, "config");
	json_str(j, d->conf->path);
	json_key(j, "shards");
	json_arr_begin(j);
	for (size_t i = 0; i < d->nshards; i++)
		shard_status_json(d->shards[i], j);
	json_arr_end(j);
}

void daemon_update_status(struct daemon *d)
{
	size_t count[4] = {0}, over = 0, paused = 0;
	uint64_t tracked = 0, flushed = 0;
	struct shard_stats st;
	struct buf line;

	if ((d->shards == NULL && d->nshards == 0 && d->conf == NULL) || d->freeing)
		return;
	if (d->nshards == 0) {
		/* The packaged config names no shard: say what the daemon waits for. */
		notify_status("no shards configured; add a [shard:NAME] section and reload");
		return;
	}
	for (size_t i = 0; i < d->nshards; i++) {
		shard_stats(d->shards[i], &st);
		count[shard_state(d->shards[i])]++;
		over += st.over_threshold;
		paused += st.paused;
		tracked += st.tracked_entries;
		flushed += st.flushed_entries_total;
	}
	buf_init(&line);
	buf_printf(&line, "%s: %zu connected", shard_count(d->nshards), count[SHARD_CONNECTED]);
	if (count[SHARD_CONNECTING])
		buf_printf(&line, ", %zu connecting", count[SHARD_CONNECTING]);
	if (count[SHARD_DOWN])
		buf_printf(&line, ", %zu down", count[SHARD_DOWN]);
	if (count[SHARD_ERROR])
		buf_printf(&line, ", %zu in error", count[SHARD_ERROR]);
	buf_printf(&line, "; %zu over threshold; %llu entries tracked, %llu flushed", over,
		   (unsigned long long)tracked, (unsigned long long)flushed);
	if (paused)
		buf_printf(&line, "; %zu paused", paused);
	notify_status(line.data);
	buf_free(&line);
}
