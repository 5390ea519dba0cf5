/* Unit tests for statedir: the layout the man pages document, and the
 * archive root being the parent of each shard's archive directory. */
#include "config.h"

#include <stdlib.h>

#include "statedir.h"
#include "tap.h"

static void check(char *got, const char *want, const char *what)
{
	is_str(got, want, "%s", what);
	free(got);
}

int main(void)
{
	char *root = statedir_archive_root("/var/lib/gcs-flushd");
	char *dir = statedir_archive_dir("/var/lib/gcs-flushd", "primary");

	check(statedir_ledger_path("/var/lib/gcs-flushd", "primary"), "/var/lib/gcs-flushd/primary.ledger",
	      "the ledger: STATE_DIR/NAME.ledger");
	is_str(root, "/var/lib/gcs-flushd/archive", "the archive root: STATE_DIR/archive");
	is_str(dir, "/var/lib/gcs-flushd/archive/primary", "a shard's archive: STATE_DIR/archive/NAME");
	ok(strncmp(dir, root, strlen(root)) == 0 && strcmp(dir + strlen(root), "/primary") == 0,
	   "the archive root is the parent of a shard's archive");
	check(statedir_archive_dir("state", "a.b-c_d"), "state/archive/a.b-c_d", "a relative state_dir is kept relative");
	free(root);
	free(dir);
	return tap_done();
}
