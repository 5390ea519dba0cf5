/* statedir: where a shard's files live under state_dir. */
#include "config.h"

#include "statedir.h"
#include "util.h"

char *statedir_ledger_path(const char *state_dir, const char *shard)
{
	return xasprintf("%s/%s.ledger", state_dir, shard);
}

char *statedir_archive_root(const char *state_dir)
{
	return xasprintf("%s/archive", state_dir);
}

char *statedir_archive_dir(const char *state_dir, const char *shard)
{
	return xasprintf("%s/archive/%s", state_dir, shard);
}
