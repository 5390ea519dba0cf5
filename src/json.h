/* json: a small JSON writer.  Key names in Redis are binary, so strings go
 * through one escaping routine that never emits invalid UTF-8. */
#ifndef GCS_JSON_H
#define GCS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define JSON_MAX_DEPTH 16

struct json {
	struct buf *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool after_key;
};

/* Appends s[0..n) as a quoted JSON string.  Valid UTF-8 passes through;
 * any byte that is not part of a valid sequence is written as \u00XX,
 * which a reader decodes to another character: fine for messages, never
 * for a key name (json_key_name). */
void json_escape(struct buf *out, const void *s, size_t n);

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0;
 * and whether all of s[0..n) is valid UTF-8 (NUL is). */
size_t json_utf8_len(const void *s, size_t n);
bool json_utf8_valid(const void *s, size_t n);

void json_init(struct json *j, struct buf *out);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);
void json_str(struct json *j, const char *s);	/* NULL writes null */
void json_strn(struct json *j, const void *s, size_t n);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Writes a Redis key name as member "MEMBER": its bytes as a string when
 * they are valid UTF-8, else "MEMBER_base64": their base64, so that any
 * standard JSON parser gets back exactly the key's bytes. */
void json_key_name(struct json *j, const char *member, const void *key, size_t n);
/* Writes {"ok":false,"error":msg}: every control error reply. */
void json_error_reply(struct buf *out, const char *msg);
/* Writes text as it is: a number already formatted, say. */
void json_raw(struct json *j, const char *text);

#endif
