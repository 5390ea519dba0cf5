/* fuzz: helpers shared by the fuzz targets.  Header-only (static
 * functions), so each target is one .c file plus the src/ files it needs.
 *
 * Every target defines LLVMFuzzerTestOneInput; built with clang and
 * -fsanitize=fuzzer it is a libFuzzer target, built with replay.c it is a
 * plain program that runs the seed corpus (make check). */
#ifndef GCS_FUZZ_H
#define GCS_FUZZ_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of the code under test does not hold: report and abort, so
 * that libFuzzer saves the input and replay fails. */
#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

/* A private directory under $TMPDIR (or /tmp), made once per process. */
static inline const char *fuzz_tmpdir(void)
{
	static char path[256];

	if (path[0] == '\0') {
		const char *t = getenv("TMPDIR");

		snprintf(path, sizeof(path), "%s/gcs-fuzz.XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(path) == NULL) {
			perror("mkdtemp");
			abort();
		}
	}
	return path;
}

/* Replaces the file at path with data[0..size). */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const char *p = data;

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror(path);
			abort();
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

#endif
