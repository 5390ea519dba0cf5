/* Unit tests for fmt: the client's sizes, durations and key names, as
 * people see them in gcs-flushctl's tables. */
#include "config.h"

#include "fmt.h"
#include "tap.h"

static const char *key(struct buf *b, const char *k, size_t n)
{
	buf_reset(b);
	fmt_key(b, k, n);
	return b->data;
}

int main(void)
{
	char out[FMT_SIZE_LEN];
	struct buf b;

	buf_init(&b);
	is_str(key(&b, "task:1", 6), "task:1", "a plain key as it is");
	is_str(key(&b, "caf\xc3\xa9-\xe2\x82\xac", 9), "caf\xc3\xa9-\xe2\x82\xac", "UTF-8 characters as they are");
	is_str(key(&b, "", 0), "\"\"", "the empty key quoted");
	is_str(key(&b, "sp ace", 6), "\"sp ace\"", "a space: quoted, kept");
	is_str(key(&b, "it's", 4), "\"it's\"", "a single quote: quoted (redis-cli would open a quote)");
	is_str(key(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"", "double quote and backslash escaped");
	is_str(key(&b, "bin\xff\0k", 6), "\"bin\\xff\\x00k\"", "invalid UTF-8 and NUL as \\xNN");
	is_str(key(&b, "x\n\r\t\a\b", 6), "\"x\\n\\r\\t\\a\\b\"", "C escapes for the usual controls");
	is_str(key(&b, "\x1b[31mred", 8), "\"\\x1b[31mred\"", "an escape sequence cannot reach the terminal");
	is_str(key(&b, "\xc2\x85x", 3), "\"\\xc2\\x85x\"", "a C1 control (U+0085), valid UTF-8, is escaped");
	is_str(key(&b, "\xc2\xa0", 2), "\xc2\xa0", "U+00A0 is printable");
	is_str(key(&b, "\x7f", 1), "\"\\x7f\"", "DEL escaped");
	buf_free(&b);
	is_str(fmt_size(1023, out, sizeof(out)), "1023 B", "bytes below 1 KiB");
	is_str(fmt_size(1048575, out, sizeof(out)), "1.0 MiB", "never 1024.0 KiB");
	is_str(fmt_duration(303, out, sizeof(out)), "5m 03s", "minutes and seconds");
	return tap_done();
}
