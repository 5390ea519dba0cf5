/* Unit tests for json: the writer and its escaping of binary strings. */
#include "config.h"

#include <stdlib.h>

#include "base64.h"
#include "json.h"
#include "tap.h"

static const char *esc(struct buf *b, const char *s, size_t n)
{
	buf_reset(b);
	json_escape(b, s, n);
	return b->data;
}

static const char *key_member(struct buf *b, const char *key, size_t n)
{
	struct json j;

	buf_reset(b);
	json_init(&j, b);
	json_obj_begin(&j);
	json_key(&j, "n");
	json_uint(&j, 1);
	json_key_name(&j, "key", key, n);
	json_key(&j, "m");
	json_uint(&j, 2);
	json_obj_end(&j);
	return b->data;
}

static void test_key_names(void)
{
	struct buf b;

	buf_init(&b);
	is_str(key_member(&b, "task:1", 6), "{\"n\":1,\"key\":\"task:1\",\"m\":2}", "a UTF-8 key is a string");
	is_str(key_member(&b, "a\0b\n", 4), "{\"n\":1,\"key\":\"a\\u0000b\\n\",\"m\":2}",
	       "NUL and newline are UTF-8: escaped, and they decode to the same bytes");
	is_str(key_member(&b, "caf\xc3\xa9", 5), "{\"n\":1,\"key\":\"caf\xc3\xa9\",\"m\":2}", "multi-byte UTF-8 as it is");
	is_str(key_member(&b, "\xff\xfe", 2), "{\"n\":1,\"key_base64\":\"//4=\",\"m\":2}",
	       "invalid UTF-8: key_base64, commas in place");
	is_str(key_member(&b, "ok\xc3", 3), "{\"n\":1,\"key_base64\":\"b2vD\",\"m\":2}", "a truncated sequence: base64");
	is_str(key_member(&b, "", 0), "{\"n\":1,\"key\":\"\",\"m\":2}", "the empty key");
	ok(json_utf8_valid("\xed\x9f\xbf", 3) && !json_utf8_valid("\xed\xa0\x80", 3),
	   "U+D7FF is valid, a surrogate is not");
	buf_free(&b);
}

static void test_base64(void)
{
	static const char *const cases[][2] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	static const char *const bad[] = {"Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9", "Zm=v"};
	unsigned char raw[300];
	struct buf enc, dec;
	bool all = true;

	buf_init(&enc);
	buf_init(&dec);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_reset(&enc);
		base64_encode(&enc, cases[i][0], strlen(cases[i][0]));
		is_str(enc.data, cases[i][1], "RFC 4648 vector '%s'", cases[i][0]);
		buf_reset(&dec);
		ok(base64_decode(&dec, cases[i][1], strlen(cases[i][1])) == 0 && strcmp(dec.data, cases[i][0]) == 0,
		   "decodes '%s'", cases[i][1]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&dec);
		ok(base64_decode(&dec, bad[i], strlen(bad[i])) < 0 && dec.len == 0, "refuses '%s'", bad[i]);
	}
	srandom(7);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)random();
		buf_reset(&enc);
		buf_reset(&dec);
		base64_encode(&enc, raw, n);
		all &= base64_decode(&dec, enc.data, enc.len) == 0 && dec.len == n && memcmp(dec.data, raw, n) == 0;
	}
	ok(all, "random bytes of every length 0 to 300 round-trip");
	buf_free(&enc);
	buf_free(&dec);
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
	test_key_names();
	test_base64();
	return tap_done();
}
