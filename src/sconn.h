/* sconn: a blocking connection to a shard's Redis for gcs-flushctl, over
 * TCP, TLS or a UNIX socket, with the shard's own settings: the same
 * verified TLS as the daemon's, a deadline on every step, hiredis only as
 * the RESP codec. */
#ifndef GCS_SCONN_H
#define GCS_SCONN_H

#include <stddef.h>

#include "conf.h"

struct sconn;
struct redisReply;

/* Connects (resolve, connect, TLS, AUTH when the shard has a password).
 * Each step, and each command later, must finish within timeout_secs.
 * NULL with *err (to free) on failure, which names the step. */
struct sconn *sconn_open(const struct shard_conf *sc, double timeout_secs, char **err);
/* Sends one command and reads its reply (freeReplyObject it); NULL with
 * *err (to free) when the connection failed: it is then unusable. */
struct redisReply *sconn_command_argv(struct sconn *s, int argc, const char **argv, const size_t *lens, char **err);
struct redisReply *sconn_command(struct sconn *s, char **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sconn_close(struct sconn *s);

#endif
