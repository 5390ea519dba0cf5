/* tap: a minimal TAP producer for the C unit tests (automake's TAP driver
 * reads it). */
#ifndef GCS_TAP_H
#define GCS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_diag_str(tap_ok((got) != NULL && strcmp((got), (want)) == 0, __FILE__, __LINE__, __VA_ARGS__), \
		     (got), (want))

__attribute__((format(printf, 4, 5), unused))
static int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		printf("# failed at %s:%d\n", file, line);
		tap_failed++;
	}
	return pass;
}

__attribute__((unused))
static void tap_diag_str(int pass, const char *got, const char *want)
{
	if (!pass)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)", want);
}

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
