/* peek: what a flush would take, taking nothing.  The oldest entries of a
 * shard's ledger (gcs-flushctl oldest), and a dry run of a flush (flush
 * --dry-run): how many entries it would take, the first and the last, and
 * the bytes it would free, estimated with MEMORY USAGE on a sample, each
 * key asked on the master that owns it.  It reads the ledger and never
 * changes it; its only commands are MEMORY USAGE, on the nodes' command
 * connections (through a peek_conn each). */
#ifndef GCS_PEEK_H
#define GCS_PEEK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct conn;
struct ledger;
struct peek;
struct peek_conn;
struct peek_report;

#define PEEK_OLDEST_MAX 10000		/* entries one "oldest" reply lists */
/* Entries a dry run walks at most: the walk is on the loop (see peek.c). */
#define PEEK_DRY_RUN_MAX 100000
#define PEEK_SAMPLE 64			/* MEMORY USAGE calls per dry run */
#define PEEK_MAX_PENDING 8		/* dry runs waiting for Redis, per shard */

/* A node's side: MEMORY USAGE on its command connection, whose loss
 * answers what was waiting for it.  The node frees it after closing the
 * connection. */
struct peek_conn *peek_conn_new(struct conn *conn);
void peek_conn_free(struct peek_conn *pc);

/* Which node would delete key: its peek_conn (NULL: no node owns it now),
 * and, for a shard of several nodes, its address in *node (NULL for a
 * standalone shard, whose replies name no node). */
typedef struct peek_conn *peek_route_fn(void *arg, const char *key, size_t klen, const char **node);

struct peek *peek_new(struct ledger *ledger, peek_route_fn *route, void *arg);
/* Answers every dry run still waiting (with an error) and frees. */
void peek_free(struct peek *p, const char *why);

/* Writes the members "tracked", "entries" (the n oldest, each {"key" or
 * "key_base64", "created_unix", "age_s"[, "node"]}), "listed" and
 * "flushable". */
void peek_oldest_json(const struct peek *p, size_t n, struct json *j);

typedef void peek_done_fn(void *arg, const struct peek_report *r);
/* Looks at what a flush of n entries would take now and asks Redis the
 * size of a sample of them; done follows once, when the replies are in
 * (at once when no node can be asked: the report says so).  Returns -1
 * with *why when too many dry runs wait already. */
int peek_dry_run(struct peek *p, uint64_t n, peek_done_fn *done, void *arg, const char **why);
/* The report's members, for the reply: see gcs-flushd(8), flush --dry-run. */
void peek_report_json(const struct peek_report *r, struct json *j);

#endif
