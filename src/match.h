/* match: Redis's glob patterns (*, ?, [abc], [^a-z], \x) over binary keys,
 * exactly as SCAN MATCH applies them, and the shard's list of patterns. */
#ifndef GCS_MATCH_H
#define GCS_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/* Would SCAN MATCH pat select the key s?  Both binary-safe; the edge
 * cases (the empty key, unclosed classes, [a-], the star cap) are listed
 * in match.c. */
bool match_glob(const char *pat, size_t plen, const char *s, size_t slen);

/* A space-separated list of patterns, as in the match key. */
struct match_list {
	char **pats;
	size_t n;
	bool all;		/* one of them is "*": every key matches */
};

void match_list_init(struct match_list *m, const char *spec);
void match_list_free(struct match_list *m);
bool match_list_any(const struct match_list *m, const char *key, size_t klen);

#endif
