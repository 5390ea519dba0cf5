/* Checks that the man page and the sample config document every key of the
 * config table: the table is the source of truth, the docs must follow. */
#include "config.h"

#include <stdlib.h>

#include "conf.h"
#include "tap.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return b.data;
}

static void check_file(const char *dir, const char *rel)
{
	char *path = xasprintf("%s/%s", dir, rel);
	char *text = slurp(path);
	size_t n;
	const struct conf_key *keys = conf_keys(&n);

	ok(text != NULL, "%s is readable", rel);
	for (size_t i = 0; text != NULL && i < n; i++) {
		/* roff escapes underscores nowhere, but may escape hyphens; keys have none. */
		ok(strstr(text, keys[i].name) != NULL, "%s documents %s", rel, keys[i].name);
	}
	free(text);
	free(path);
}

int main(void)
{
	const char *dir = getenv("top_srcdir");

	if (dir == NULL)
		dir = ".";
	check_file(dir, "man/gcs-flushd.conf.5");
	check_file(dir, "etc/gcs-flushd.conf");
	return tap_done();
}
