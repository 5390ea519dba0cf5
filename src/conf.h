/* conf: the INI configuration: one table of keys (conf_keys.c) drives
 * parsing (conf.c), defaults, validation, the -t check and the settings
 * shown in status. */
#ifndef GCS_CONF_H
#define GCS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "secret.h"
#include "util.h"

struct tls_ctx;

#define CONF_DEFAULT_PATH SYSCONFDIR "/gcs-flushd.conf"
#define CONF_MAX_LINE 1024	/* longer lines are an error, never silently cut */
#define CONF_MAX_SHARD_NAME 32

enum conf_type {
	CT_STR,		/* char * */
	CT_SIZE,	/* uint64_t, bytes with K/M/G/T or KiB/MiB/GiB/TiB suffixes */
	CT_UINT,	/* uint64_t */
	CT_SECS,	/* double, fractional seconds */
	CT_BOOL,	/* bool: yes/no, true/false, on/off, 1/0 */
	CT_LOGLEVEL,	/* int: error, warning, notice, info, debug */
	CT_MODE,	/* uint64_t, octal file mode */
	CT_ENUM,	/* int: the index of one of the key's words (conf_enum_words) */
	CT_SHARE,	/* double, a share of a whole: 10%, 0.1, or off (0) */
};

enum conf_scope {
	CS_DAEMON,	/* [daemon] */
	CS_POLICY,	/* [policy], overridable in each [shard:NAME] */
	CS_SHARD,	/* [shard:NAME] only */
};

/* Where a shard's effective value came from, as shown in status. */
enum conf_source {
	SRC_DEFAULT,
	SRC_CONFIG,	/* the [policy] section */
	SRC_SHARD,	/* the shard's own section */
	SRC_RUNTIME,	/* the shard's policy key (set by the application) */
};

#define CK_REQUIRED 0x1	/* a shard must set it */
#define CK_SECRET 0x2	/* never logged nor shown */
#define CK_CONNECT 0x4	/* a change needs a new connection */
#define CK_RESTART 0x8	/* a daemon key that a reload cannot change */

struct conf_key {
	const char *name;
	enum conf_scope scope;
	enum conf_type type;
	size_t offset;		/* into struct conf (CS_DAEMON) or struct shard_conf */
	const char *def;	/* default, as text: parsed like a value from the file */
	double min, max;	/* bounds for numbers */
	unsigned flags;
	const char *doc;	/* one line, for -t and the documentation check */
};


#define CONF_MAX_KEYS 64

/* flush_mode's words, in this order (conf_keys.c). */
enum flush_mode {
	FLUSH_MODE_BATCH,	/* Ray's: up to N entries per period once over the threshold */
	FLUSH_MODE_HOLD,	/* sample often, remove just what brings memory back to the line */
};

struct shard_conf {
	char *name;
	int line;			/* line of the [shard:NAME] header */

	char *address;			/* exactly one of address, cluster and sentinels */
	char *cluster;
	char *sentinels;
	char *sentinel_master;
	char *sentinel_username;
	char *sentinel_password_file;
	uint64_t db;
	char *username;
	char *password;
	char *password_file;
	bool tls;
	char *tls_ca_file;
	char *tls_cert_file;
	char *tls_key_file;
	char *tls_server_name;

	uint64_t flush_when_at_least_bytes;
	double flush_period_secs;
	uint64_t flush_num_entries_each_time;
	uint64_t flush_max_entries_per_sec;
	int flush_mode;			/* enum flush_mode */
	double hold_interval_secs;
	double flush_server_budget;	/* a share of the server's time; 0: none */
	char *match;
	bool archive;
	uint64_t archive_max_bytes;
	double archive_max_age;
	uint64_t archive_segment_bytes;
	char *policy_key;
	double connect_timeout_secs;
	double command_timeout_secs;
	double reconnect_max_secs;

	struct parse_addr addr;		/* parsed from address (zero without one) */
	struct secret *secret;		/* password, or password_file's first line; the
					 * raw password value is wiped once copied here */
	struct tls_ctx *tls_ctx;	/* built from the tls_* files when tls = yes, else NULL */
	struct secret *sentinel_secret;	/* sentinel_password_file's first line */
	unsigned char source[CONF_MAX_KEYS];	/* enum conf_source, by key index */
	int key_line[CONF_MAX_KEYS];	/* where each key was set, 0 if not */
};

struct conf {
	char *path;
	char *control_socket;
	uint64_t control_socket_mode;
	char *control_socket_group;
	char *control_admin;
	char *state_dir;
	char *metrics_listen;
	int log_level;
	int key_line[CONF_MAX_KEYS];

	struct shard_conf policy;	/* [policy]: the shards' defaults */
	struct shard_conf **shards;
	size_t nshards;
};

const struct conf_key *conf_keys(size_t *n);
const struct conf_key *conf_key_find(const char *name);
/* k's position in the table, which indexes source[] and key_line[]. */
size_t conf_key_index(const struct conf_key *k);
const char *conf_source_name(enum conf_source src);
/* The words a CT_ENUM key takes, NULL-terminated, in the order of their
 * values; NULL for a key of another type. */
const char *const *conf_enum_words(const struct conf_key *k);
/* "expected batch or hold": a CT_ENUM key's words, for an error message
 * (a static buffer, good until the next call). */
const char *conf_enum_expected(const struct conf_key *k);

/* Loads and validates FILE. On failure returns NULL and appends one
 * "FILE:LINE: key: message" line per problem to errors. */
struct conf *conf_load(const char *path, struct buf *errors);
void conf_free(struct conf *c);

struct shard_conf *conf_shard_find(const struct conf *c, const char *name);
/* A deep copy (strings, address, secret) that its owner frees with
 * conf_shard_free, whatever becomes of the config it came from. */
struct shard_conf *conf_shard_dup(const struct shard_conf *s);
void conf_shard_free(struct shard_conf *s);
/* Gives next the running values of the keys a reload cannot change
 * (CK_RESTART). */
void conf_keep_restart_keys(struct conf *next, const struct conf *running);
/* Same settings (connection and policy)? */
bool conf_shard_equal(const struct shard_conf *a, const struct shard_conf *b);
/* Same connection (address, db, credentials, TLS settings and the
 * contents of the TLS files)? */
bool conf_shard_conn_equal(const struct shard_conf *a, const struct shard_conf *b);

/* Formats the value of key k stored in base (a struct conf or struct shard_conf). */
void conf_format_value(const struct conf_key *k, const void *base, struct buf *out);

#endif
