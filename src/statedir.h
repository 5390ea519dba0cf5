/* statedir: the layout of state_dir, written down once.  The daemon (the
 * shards' ledgers and archives) and gcs-flushctl (restore and archive ls,
 * which read the archive without the daemon) must agree on it, and the man
 * pages document it:
 *
 *   STATE_DIR/NAME.ledger       a shard's ledger log
 *   STATE_DIR/archive/          the root of the archives
 *   STATE_DIR/archive/NAME/     a shard's archive segments
 *
 * Each function returns a path in a new malloc'ed string; none touches the
 * file system. */
#ifndef GCS_STATEDIR_H
#define GCS_STATEDIR_H

/* STATE_DIR/archive: the parent of every shard's archive directory. */
char *statedir_archive_root(const char *state_dir);
/* STATE_DIR/archive/SHARD: what archive_open() and archive_scan() take. */
char *statedir_archive_dir(const char *state_dir, const char *shard);
/* STATE_DIR/SHARD.ledger: what ledger_open() takes. */
char *statedir_ledger_path(const char *state_dir, const char *shard);

#endif
