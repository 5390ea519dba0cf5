/* statedir: the paths of a shard's state under state_dir (see statedir.h).
 * Builds strings only: creating, locking or reading the files belongs to
 * the modules that own them (shard, archive, ledger). */
#include "config.h"

#include "statedir.h"
#include "util.h"

#define ARCHIVE_SUBDIR "archive"

char *statedir_archive_root(const char *state_dir)
{
	return xasprintf("%s/" ARCHIVE_SUBDIR, state_dir);
}

char *statedir_archive_dir(const char *state_dir, const char *shard)
{
	return xasprintf("%s/" ARCHIVE_SUBDIR "/%s", state_dir, shard);
}

char *statedir_ledger_path(const char *state_dir, const char *shard)
{
	return xasprintf("%s/%s.ledger", state_dir, shard);
}
