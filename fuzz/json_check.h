/* json_check: a strict JSON validator (RFC 8259 plus valid UTF-8: no
 * overlong forms, surrogates or code points past U+10FFFF, no lone
 * surrogate escapes) for the fuzz targets' oracles.  Written apart from
 * src/json.c on purpose: it must not share that code's mistakes. */
#ifndef GCS_JSON_CHECK_H
#define GCS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jc {
	const unsigned char *p, *end;
	int depth;
};

/* Length of the valid UTF-8 sequence at p (p < end), or 0. */
static inline size_t jc_utf8(const unsigned char *p, const unsigned char *end)
{
	size_t n = (size_t)(end - p), len, i;
	uint32_t cp, min;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2, cp = p[0] & 0x1fu, min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3, cp = p[0] & 0x0fu, min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4, cp = p[0] & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static inline int jc_hex4(const unsigned char *p, const unsigned char *end, uint32_t *v)
{
	*v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			*v |= c - 'a' + 10u;
		else if (c >= 'A' && c <= 'F')
			*v |= c - 'A' + 10u;
		else
			return -1;
	}
	return 0;
}

/* A string at j->p (which points at the opening quote).  When out is not
 * NULL, the decoded bytes are appended there, a \uXXXX below U+0100 as the
 * one byte XXXX (json_escape writes bytes that are not UTF-8 that way). */
static inline bool jc_string(struct jc *j, unsigned char *out, size_t *outlen)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = *j->p;
		size_t len;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			uint32_t v, lo;
			const char *simple = "\"\\/bfnrt", *dec = "\"\\/\b\f\n\r\t", *s;

			if (j->end - j->p < 2)
				return false;
			c = j->p[1];
			if (c != 'u') {
				if (c == '\0' || (s = strchr(simple, c)) == NULL)
					return false;
				if (out)
					out[(*outlen)++] = (unsigned char)dec[s - simple];
				j->p += 2;
				continue;
			}
			if (jc_hex4(j->p + 2, j->end, &v) < 0)
				return false;
			j->p += 6;
			if (v >= 0xdc00 && v <= 0xdfff)
				return false;	/* a lone low surrogate */
			if (v >= 0xd800 && v <= 0xdbff) {
				if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
				    jc_hex4(j->p + 2, j->end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return false;
				j->p += 6;
				v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (out) {
				if (v < 0x100) {
					out[(*outlen)++] = (unsigned char)v;
				} else if (v < 0x800) {
					out[(*outlen)++] = (unsigned char)(0xc0 | v >> 6);
					out[(*outlen)++] = (unsigned char)(0x80 | (v & 0x3f));
				} else if (v < 0x10000) {
					out[(*outlen)++] = (unsigned char)(0xe0 | v >> 12);
					out[(*outlen)++] = (unsigned char)(0x80 | (v >> 6 & 0x3f));
					out[(*outlen)++] = (unsigned char)(0x80 | (v & 0x3f));
				} else {
					out[(*outlen)++] = (unsigned char)(0xf0 | v >> 18);
					out[(*outlen)++] = (unsigned char)(0x80 | (v >> 12 & 0x3f));
					out[(*outlen)++] = (unsigned char)(0x80 | (v >> 6 & 0x3f));
					out[(*outlen)++] = (unsigned char)(0x80 | (v & 0x3f));
				}
			}
			continue;
		}
		if ((len = jc_utf8(j->p, j->end)) == 0)
			return false;
		if (out) {
			memcpy(out + *outlen, j->p, len);
			*outlen += len;
		}
		j->p += len;
	}
	return false;
}

static inline void jc_ws(struct jc *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static inline bool jc_digits(struct jc *j)
{
	const unsigned char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static inline bool jc_number(struct jc *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!jc_digits(j))
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!jc_digits(j))
			return false;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!jc_digits(j))
			return false;
	}
	return true;
}

static inline bool jc_word(struct jc *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

static inline bool jc_value(struct jc *j)
{
	bool ok = false;

	jc_ws(j);
	if (j->p >= j->end || ++j->depth > 64)
		return false;
	switch (*j->p) {
	case '{':
	case '[': {
		unsigned char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';

		j->p++;
		jc_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			ok = true;
			break;
		}
		for (;;) {
			if (obj) {
				jc_ws(j);
				if (!jc_string(j, NULL, NULL))
					return false;
				jc_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return false;
			}
			if (!jc_value(j))
				return false;
			jc_ws(j);
			if (j->p >= j->end)
				return false;
			if (*j->p == ',') {
				j->p++;
				continue;
			}
			if (*j->p++ != close)
				return false;
			break;
		}
		ok = true;
		break;
	}
	case '"':
		ok = jc_string(j, NULL, NULL);
		break;
	case 't':
		ok = jc_word(j, "true");
		break;
	case 'f':
		ok = jc_word(j, "false");
		break;
	case 'n':
		ok = jc_word(j, "null");
		break;
	default:
		ok = jc_number(j);
		break;
	}
	j->depth--;
	return ok;
}

/* True when s[0..n) is exactly one JSON value (white space around it). */
static inline bool json_valid(const void *s, size_t n)
{
	struct jc j = {s, (const unsigned char *)s + n, 0};

	if (!jc_value(&j))
		return false;
	jc_ws(&j);
	return j.p == j.end;
}

#endif
