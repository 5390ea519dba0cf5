/* json: a small JSON writer with one escaping routine for binary strings,
 * and key names that round-trip exactly (json_key_name). */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "json.h"

size_t json_utf8_len(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

void json_escape(struct buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0;

	buf_putc(out, '"');
	while (i < n) {
		unsigned char c = s[i];
		size_t len;

		switch (c) {
		case '"': buf_puts(out, "\\\""); i++; continue;
		case '\\': buf_puts(out, "\\\\"); i++; continue;
		case '\n': buf_puts(out, "\\n"); i++; continue;
		case '\r': buf_puts(out, "\\r"); i++; continue;
		case '\t': buf_puts(out, "\\t"); i++; continue;
		default: break;
		}
		/* The other control bytes; JSON only requires C0, DEL is escaped
		 * too so that no reader's terminal acts on it. */
		if (ctl_byte(c, NULL)) {
			buf_printf(out, "\\u%04x", c);
			i++;
			continue;
		}
		len = json_utf8_len(s + i, n - i);
		if (len == 0) {
			buf_printf(out, "\\u%04x", c);
			i++;
			continue;
		}
		buf_append(out, s + i, len);
		i += len;
	}
	buf_putc(out, '"');
}

bool json_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0, len; i < n; i += len)
		if ((len = json_utf8_len(s + i, n - i)) == 0)
			return false;
	return true;
}

void json_init(struct json *j, struct buf *out)
{
	memset(j, 0, sizeof(*j));
	j->out = out;
}

/* Writes the separator a new value needs: a comma unless it is the first
 * value of its container or follows a key. */
static void sep(struct json *j)
{
	if (j->after_key) {
		j->after_key = false;
		return;
	}
	if (j->need_comma[j->depth])
		buf_putc(j->out, ',');
	j->need_comma[j->depth] = true;
}

static void open_container(struct json *j, char c)
{
	sep(j);
	buf_putc(j->out, c);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_container(struct json *j, char c)
{
	buf_putc(j->out, c);
	if (j->depth > 0)
		j->depth--;
}

void json_obj_begin(struct json *j) { open_container(j, '{'); }
void json_obj_end(struct json *j) { close_container(j, '}'); }
void json_arr_begin(struct json *j) { open_container(j, '['); }
void json_arr_end(struct json *j) { close_container(j, ']'); }

void json_key(struct json *j, const char *key)
{
	sep(j);
	json_escape(j->out, key, strlen(key));
	buf_putc(j->out, ':');
	j->after_key = true;
}

void json_strn(struct json *j, const void *s, size_t n)
{
	sep(j);
	json_escape(j->out, s, n);
}

void json_str(struct json *j, const char *s)
{
	if (s == NULL)
		json_null(j);
	else
		json_strn(j, s, strlen(s));
}

void json_uint(struct json *j, uint64_t v)
{
	sep(j);
	buf_printf(j->out, "%" PRIu64, v);
}

void json_int(struct json *j, int64_t v)
{
	sep(j);
	buf_printf(j->out, "%" PRId64, v);
}

void json_double(struct json *j, double v)
{
	char text[40];

	sep(j);
	if (!isfinite(v)) {
		buf_puts(j->out, "null");	/* JSON has no NaN or infinity */
		return;
	}
	/* The fewest digits that read back as v: 0.697, not 0.69699999999999995. */
	snprintf(text, sizeof(text), "%.15g", v);
	if (strtod(text, NULL) != v)
		snprintf(text, sizeof(text), "%.17g", v);
	buf_puts(j->out, text);
}

void json_bool(struct json *j, bool v)
{
	sep(j);
	buf_puts(j->out, v ? "true" : "false");
}

void json_null(struct json *j)
{
	sep(j);
	buf_puts(j->out, "null");
}

void json_raw(struct json *j, const char *text)
{
	sep(j);
	buf_puts(j->out, text);
}

void json_error_reply(struct buf *out, const char *msg)
{
	struct json j;

	json_init(&j, out);
	json_obj_begin(&j);
	json_key(&j, "ok");
	json_bool(&j, false);
	json_key(&j, "error");
	json_str(&j, msg);
	json_obj_end(&j);
}

/* A JSON string is Unicode text: bytes that are not UTF-8 cannot be one
 * without changing them (\u00XX decodes to another character), so they go
 * as base64 under another member name.  Valid UTF-8, NUL and control
 * bytes included (escaped as \u00XX), decodes to the same bytes. */
void json_key_name(struct json *j, const char *member, const void *key, size_t n)
{
	if (json_utf8_valid(key, n)) {
		json_key(j, member);
		json_strn(j, key, n);
		return;
	}
	sep(j);
	buf_printf(j->out, "\"%s_base64\":\"", member);
	base64_encode(j->out, key, n);
	buf_putc(j->out, '"');
}
