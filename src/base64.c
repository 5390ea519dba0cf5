/* base64: RFC 4648, section 4 (see base64.h). */
#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(struct buf *out, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		char q[4] = {alphabet[v >> 18 & 63], alphabet[v >> 12 & 63],
			     i + 1 < n ? alphabet[v >> 6 & 63] : '=', i + 2 < n ? alphabet[v & 63] : '='};

		buf_append(out, q, 4);
	}
}

static int value(char c)
{
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

	return p != NULL ? (int)(p - alphabet) : -1;
}

int base64_decode(struct buf *out, const char *s, size_t n)
{
	size_t start = out->len;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		bool last = i + 4 == n;
		int pad = last ? (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=') : 0;
		int a = value(s[i]), b = value(s[i + 1]);
		int c = pad >= 2 ? 0 : value(s[i + 2]), d = pad >= 1 ? 0 : value(s[i + 3]);
		unsigned v;
		unsigned char bytes[3];

		if (a < 0 || b < 0 || c < 0 || d < 0) {
			out->len = start;
			out->data[start] = '\0';
			return -1;
		}
		v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
		bytes[0] = (unsigned char)(v >> 16);
		bytes[1] = (unsigned char)(v >> 8);
		bytes[2] = (unsigned char)v;
		buf_append(out, bytes, 3 - (size_t)pad);
	}
	return 0;
}
