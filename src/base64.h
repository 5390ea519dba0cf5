/* base64: RFC 4648 base64 with padding, for key names that are not UTF-8
 * in the control socket's JSON ("key_base64"). */
#ifndef GCS_BASE64_H
#define GCS_BASE64_H

#include <stddef.h>

#include "util.h"

/* Appends the encoding of p[0..n) to out. */
void base64_encode(struct buf *out, const void *p, size_t n);
/* Appends the bytes that s[0..n) encodes to out; -1 (out unchanged) when s
 * is not padded base64. */
int base64_decode(struct buf *out, const char *s, size_t n);

#endif
