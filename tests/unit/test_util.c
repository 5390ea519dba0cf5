/* Unit tests for util: the control-byte rule that the log, the policy's
 * invalid list, the request parser, the client and restore share. */
#include "config.h"

#include "tap.h"
#include "util.h"

static const char *escaped(struct buf *b, const char *s, size_t n, const char *keep)
{
	buf_reset(b);
	buf_put_ctl_escaped(b, s, n, keep);
	return b->data;
}

static void test_ctl_byte(void)
{
	int ctl = 0, kept = 0;

	for (unsigned c = 0; c < 256; c++)
		ctl += ctl_byte((unsigned char)c, NULL);
	ok(ctl == 33, "33 control bytes: 0x00-0x1f and 0x7f (counted %d)", ctl);
	ok(ctl_byte(0x00, NULL) && ctl_byte(0x1f, NULL) && ctl_byte(0x7f, NULL),
	   "NUL, 0x1f and DEL are control bytes");
	ok(!ctl_byte(' ', NULL) && !ctl_byte('~', NULL), "space and tilde are not");
	ok(!ctl_byte(0x80, NULL) && !ctl_byte(0xc3, NULL) && !ctl_byte(0xff, NULL),
	   "bytes from 0x80 up are not: UTF-8 text passes");
	ok(ctl_byte('\t', NULL) && ctl_byte('\t', "") && ctl_byte('\t', "\n"),
	   "a tab is a control byte unless kept");
	ok(!ctl_byte('\t', "\t") && !ctl_byte('\n', "\t\n"), "kept bytes are not control bytes");
	for (unsigned c = 0; c < 256; c++)
		kept += ctl_byte((unsigned char)c, "\t") != ctl_byte((unsigned char)c, NULL);
	ok(kept == 1, "keeping a tab changes the verdict on one byte only (%d)", kept);
	ok(ctl_byte('\0', "\t"), "NUL is never kept, although strchr finds every string's end");
	ok(!ctl_byte('a', "a"), "KEEP only ever widens what passes");
}

static void test_ctl_find(void)
{
	const char req[] = "pause\ta\x1b" "b";

	ok(ctl_find("status a b", 10, NULL) == NULL, "a plain request has none");
	ok(ctl_find(req, sizeof(req) - 1, "\t") == req + 7, "finds the escape past a kept tab");
	ok(ctl_find(req, sizeof(req) - 1, NULL) == req + 5, "finds the tab when it is not kept");
	ok(ctl_find("a\0b", 3, "\t") != NULL, "finds a NUL inside the length");
	ok(ctl_find("ab\n", 2, NULL) == NULL, "looks no further than the length");
	ok(ctl_find("", 0, NULL) == NULL, "the empty string has none");
}

static void test_ctl_scrub(void)
{
	char msg[] = "err\x1b[31m red\r\nnext\tline\x7f";
	char empty[] = "";

	is_str(ctl_scrub(msg, "\n"), "err?[31m red?\nnext?line?", "scrub keeps the newline only");
	is_str(ctl_scrub(empty, NULL), "", "scrub of the empty string");
}

static void test_escaped(void)
{
	struct buf b;

	buf_init(&b);
	is_str(escaped(&b, "a\tb\nc", 5, "\t"), "a\tb\\x0ac", "escapes a newline, keeps a tab");
	is_str(escaped(&b, "a\tb", 3, NULL), "a\\x09b", "escapes a tab when it is not kept");
	is_str(escaped(&b, "\x1b[31m\x7f", 6, NULL), "\\x1b[31m\\x7f", "escapes ESC and DEL");
	is_str(escaped(&b, "x\0y", 3, "\t"), "x\\x00y", "escapes a NUL inside the length");
	is_str(escaped(&b, "caf\xc3\xa9", 5, NULL), "caf\xc3\xa9", "UTF-8 passes as it is");
	is_str(escaped(&b, "abcdef", 3, NULL), "abc", "writes no more than the length");
	buf_free(&b);
}

int main(void)
{
	test_ctl_byte();
	test_ctl_find();
	test_ctl_scrub();
	test_escaped();
	return tap_done();
}
