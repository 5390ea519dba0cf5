/* test_secret: a secret's page is left out of core dumps, and freeing it
 * wipes it.  Linked with -Wl,--wrap=munmap so that the test sees the page's
 * bytes at the moment secret_free hands it back. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "conf.h"
#include "secret.h"
#include "tap.h"

int __real_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len);

static const void *watched;	/* the secret whose unmapping we check */
static int unmapped, unmapped_zero;

int __wrap_munmap(void *addr, size_t len)
{
	if (watched != NULL && addr == watched) {
		const unsigned char *p = addr;
		size_t i = 0;

		while (i < len && p[i] == 0)
			i++;
		unmapped++;
		unmapped_zero = i == len;
	}
	return __real_munmap(addr, len);
}

/* The VmFlags of the mapping holding p, from /proc/self/smaps, or "". */
static void vm_flags(const void *p, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;

	*out = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = (unsigned long)p >= lo && (unsigned long)p < hi;
		} else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, outlen, "%s", line + 8);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

static bool has_flag(const char *flags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = flags; (p = strstr(p, flag)) != NULL; p += n)
		if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void test_secret(void)
{
	struct secret *a = secret_new("hunter2xyz", 7), *b = secret_new("hunter2", 7), *c = secret_new("other", 5);
	char flags[512];

	is_str(secret_str(a), "hunter2", "holds the given bytes, NUL-terminated");
	ok(secret_equal(a, b) && !secret_equal(a, c), "compares by content");
	ok(secret_equal(NULL, NULL) && !secret_equal(a, NULL) && !secret_equal(NULL, a), "NULL is only equal to NULL");
	vm_flags(secret_str(a), flags, sizeof(flags));
	ok(*flags != '\0', "its mapping is in /proc/self/smaps");
	ok(has_flag(flags, "dd"), "its mapping is marked do-not-dump (VmFlags:%s)", flags);
	ok(!has_flag(flags, "ex"), "and is not executable");

	watched = a;
	secret_free(a);
	ok(unmapped == 1 && unmapped_zero, "freeing wipes the whole page before unmapping it");
	watched = NULL;
	secret_free(b);
	secret_free(c);
	secret_free(NULL);

	{
		char buf[] = "transient";

		secret_wipe(buf, sizeof(buf));
		ok(memcmp(buf, "\0\0\0\0\0\0\0\0\0", sizeof(buf)) == 0, "secret_wipe zeroes a caller's copy");
	}
}

/* The config path: a loaded password is in a do-not-dump page, and the
 * ordinary heap copy of the value is gone. */
static void test_conf_secret(void)
{
	const char *path = "secret-test.conf";
	FILE *f = fopen(path, "w");
	struct buf errs;
	struct conf *c;
	char flags[512];

	buf_init(&errs);
	fputs("[shard:a]\naddress = unix:/a\npassword = correct horse\n", f);
	fclose(f);
	chmod(path, 0600);
	c = conf_load(path, &errs);
	ok(c != NULL && c->shards[0]->secret != NULL, "a config password becomes a secret");
	if (c != NULL && c->shards[0]->secret != NULL) {
		is_str(secret_str(c->shards[0]->secret), "correct horse", "with the configured value");
		is_str(c->shards[0]->password, "", "the raw value is wiped");
		vm_flags(secret_str(c->shards[0]->secret), flags, sizeof(flags));
		ok(has_flag(flags, "dd"), "the config's secret is marked do-not-dump");
		watched = c->shards[0]->secret;
		unmapped = 0;
		conf_free(c);
		ok(unmapped == 1 && unmapped_zero, "freeing the config wipes its secret");
		watched = NULL;
	}
	remove(path);
	buf_free(&errs);
}

int main(void)
{
	test_secret();
	test_conf_secret();
	return tap_done();
}
