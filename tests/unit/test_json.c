/* Unit tests for json: the writer and its escaping of binary strings. */
#include "config.h"

#include "json.h"
#include "tap.h"

static const char *esc(struct buf *b, const char *s, size_t n)
{
	buf_reset(b);
	json_escape(b, s, n);
	return b->data;
}

int main(void)
{
	struct buf b;
	struct json j;

	buf_init(&b);
	is_str(esc(&b, "plain", 5), "\"plain\"", "plain ASCII passes through");
	is_str(esc(&b, "a\"b\\c", 5), "\"a\\\"b\\\\c\"", "quote and backslash are escaped");
	is_str(esc(&b, "\n\r\t", 3), "\"\\n\\r\\t\"", "newline, CR and tab use short escapes");
	is_str(esc(&b, "a\0b", 3), "\"a\\u0000b\"", "NUL inside a key is kept as \\u0000");
	is_str(esc(&b, "\x01\x1f\x7f", 3), "\"\\u0001\\u001f\\u007f\"", "control bytes are \\u escapes");
	is_str(esc(&b, "caf\xc3\xa9", 5), "\"caf\xc3\xa9\"", "valid 2-byte UTF-8 passes through");
	is_str(esc(&b, "\xe2\x82\xac", 3), "\"\xe2\x82\xac\"", "valid 3-byte UTF-8 passes through");
	is_str(esc(&b, "\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"", "valid 4-byte UTF-8 passes through");
	is_str(esc(&b, "\xff", 1), "\"\\u00ff\"", "an invalid byte becomes \\u00XX");
	is_str(esc(&b, "\xc3", 1), "\"\\u00c3\"", "a truncated sequence is escaped byte by byte");
	is_str(esc(&b, "\xc0\xaf", 2), "\"\\u00c0\\u00af\"", "an overlong form is escaped");
	is_str(esc(&b, "\xed\xa0\x80", 3), "\"\\u00ed\\u00a0\\u0080\"", "a UTF-16 surrogate is escaped");
	is_str(esc(&b, "", 0), "\"\"", "the empty key");

	buf_reset(&b);
	json_init(&j, &b);
	json_obj_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, true);
	json_key(&j, "n");
	json_uint(&j, 18446744073709551615ULL);
	json_key(&j, "neg");
	json_int(&j, -5);
	json_key(&j, "x");
	json_double(&j, 0.5);
	json_key(&j, "none");
	json_str(&j, NULL);
	json_key(&j, "list");
	json_arr_begin(&j);
	json_str(&j, "a");
	json_obj_begin(&j);
	json_obj_end(&j);
	json_arr_begin(&j);
	json_arr_end(&j);
	json_raw(&j, "7");
	json_arr_end(&j);
	json_obj_end(&j);
	is_str(b.data, "{\"ok\":true,\"n\":18446744073709551615,\"neg\":-5,\"x\":0.5,\"none\":null,"
	       "\"list\":[\"a\",{},[],7]}", "writer places commas and colons");
	buf_free(&b);
	return tap_done();
}
