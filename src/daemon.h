/* daemon: the running daemon's state: its config, its shards, the control
 * socket; start-up, reload (parse fresh, validate, swap) and status. */
#ifndef GCS_DAEMON_H
#define GCS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "json.h"
#include "shard.h"

struct event_base;
struct evdns_base;
struct ctl;

struct daemon {
	struct event_base *base;
	struct evdns_base *dns;
	struct conf *conf;
	struct shard **shards;		/* in config order */
	size_t nshards;
	struct ctl *ctl;
	gid_t ctl_group;		/* owns the control socket */
	double start_mono;
	/* Shards are being freed: a flush that ends as its shard goes must not
	 * have the status walk shards already freed. */
	bool freeing;
};

/* Takes ownership of conf; opens the control socket and starts every shard. */
int daemon_init(struct daemon *d, struct event_base *base, struct conf *conf, char **err);
void daemon_fini(struct daemon *d);

/* Re-reads the config file.  On success swaps it in: added shards start,
 * removed ones stop, changed ones are reconfigured, others are untouched;
 * when j is given, writes "added", "removed", "changed" and "unchanged"
 * arrays into it.  On failure keeps the old config and returns -1 with the
 * errors in *err. */
int daemon_reload(struct daemon *d, struct json *j, char **err);

struct shard *daemon_shard(const struct daemon *d, const char *name);
void daemon_status_json(const struct daemon *d, struct json *j);
/* Recomputes the one-line summary for systemd's STATUS=. */
void daemon_update_status(struct daemon *d);

#endif
