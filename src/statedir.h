/* statedir: the layout of state_dir, shared by the daemon (store.c) and
 * gcs-flushctl (restore.c), so that both find a shard's files in the same
 * place:
 *   STATE_DIR/NAME.ledger          the shard's ledger
 *   STATE_DIR/archive/NAME/        the shard's archive segments
 * Each returns a string the caller frees. */
#ifndef GCS_STATEDIR_H
#define GCS_STATEDIR_H

char *statedir_ledger_path(const char *state_dir, const char *shard);
char *statedir_archive_root(const char *state_dir);
char *statedir_archive_dir(const char *state_dir, const char *shard);

#endif
