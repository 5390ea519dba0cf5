/* match: Redis's glob, exactly as SCAN MATCH applies it, over binary keys;
 * and the shard's list of patterns.
 *
 * Keyspace events are filtered here while reconciliation asks the server
 * (SCAN MATCH), so the two must agree on every pattern, however odd, or a
 * key is flushed that reconciliation never finds (or the reverse).  The
 * reference is redis-server 7.0.15 as Debian 12 ships it: stringmatchlen()
 * in its src/util.c, with the fixes for CVE-2022-36021 (no exponential
 * backtracking) and CVE-2024-31228 (a cap on nested stars).  Each rule
 * below was checked against that server; tests/match.bats keeps checking
 * with random patterns.
 *
 * Beyond *, ? and [...]:
 *  - the empty key matches only the empty pattern and a lone "*": SCAN does
 *    not call the matcher for "*", and the matcher never lets "*" match an
 *    empty key, so "**" does not match it;
 *  - \x is x, outside and inside a class; a \ that ends the pattern is a
 *    literal backslash;
 *  - in a class, "x-y" is a range whatever y is, ']' included ("[a-]" is
 *    the range ]..a and the class goes on); a reversed range is swapped;
 *  - a class with no closing ']' runs to the end of the pattern and still
 *    takes one byte: "[" matches nothing, "[^" any byte;
 *  - "[]" matches nothing and "[^]" any byte (']' first closes the class);
 *  - range ends compare as plain char, as Redis does: signed on x86-64, so
 *    there [a-\xff] is \xff and \0..a; unsigned on arm64;
 *  - a pattern whose 1001st run of stars has anything after it matches
 *    nothing (Redis gives up past 1000 nested stars).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "util.h"

/* Redis's recursion depth cap: the star run that would nest deeper fails. */
#define MATCH_MAX_STARS 1000

/* The class at pat[*p] (its '['), against byte c: is c in it?  Moves *p
 * past the class.  The order of the tests is Redis's: an escape first, so
 * that "\]" is a member; the end of the pattern, so that an unclosed class
 * takes the rest; then ']', then a range. */
static bool class_has(const char *pat, size_t plen, size_t *p, char c)
{
	size_t q = *p + 1;
	bool neg = q < plen && pat[q] == '^', hit = false;

	if (neg)
		q++;
	for (;;) {
		if (q + 1 < plen && pat[q] == '\\') {
			hit |= pat[q + 1] == c;
			q += 2;
		} else if (q == plen) {
			break;
		} else if (pat[q] == ']') {
			q++;
			break;
		} else if (q + 2 < plen && pat[q + 1] == '-') {
			/* int from plain char, like Redis, so that both agree
			 * on where bytes >= 0x80 fall on this architecture. */
			int lo = pat[q], hi = pat[q + 2];

			if (lo > hi) {
				int t = lo;

				lo = hi;
				hi = t;
			}
			hit |= c >= lo && c <= hi;
			q += 3;
		} else {
			hit |= pat[q] == c;
			q++;
		}
	}
	*p = q;
	return hit != neg;
}

/* The element at pat[*p], not a star, against byte c; moves *p past it. */
static bool element_has(const char *pat, size_t plen, size_t *p, char c)
{
	switch (pat[*p]) {
	case '?':
		(*p)++;
		return true;
	case '[':
		return class_has(pat, plen, p, c);
	case '\\':
		if (*p + 1 < plen)
			(*p)++;	/* escaped; a trailing \ stands for itself */
		/* fall through */
	default:
		return pat[(*p)++] == c;
	}
}

bool match_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
	/* Iterative with one backtrack point, the last star run: as Redis
	 * answers (a non-star element always takes exactly one byte, so
	 * retrying earlier stars cannot help), without its recursion. */
	size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
	unsigned stars = 0, star_n = 0;

	if (plen == 1 && pat[0] == '*')
		return true;
	if (slen == 0)
		return plen == 0;
	while (i < slen) {
		if (p < plen && pat[p] == '*') {
			while (p < plen && pat[p] == '*')
				p++;
			if (p == plen)
				return true;
			/* Redis would nest this run too deep: no key matches. */
			if (++stars > MATCH_MAX_STARS)
				return false;
			star_p = p;
			star_i = i;
			star_n = stars;
			continue;
		}
		if (p < plen && element_has(pat, plen, &p, s[i])) {
			i++;
			continue;
		}
		if (star_p == (size_t)-1)
			return false;
		/* Let the last star run take one byte more. */
		p = star_p;
		i = ++star_i;
		stars = star_n;
	}
	while (p < plen && pat[p] == '*')
		p++;
	return p == plen;
}

void match_list_init(struct match_list *m, const char *spec)
{
	const char *p = spec;

	memset(m, 0, sizeof(*m));
	while (*p) {
		size_t n;

		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		m->pats = xrealloc(m->pats, (m->n + 1) * sizeof(*m->pats));
		m->pats[m->n++] = xstrndup(p, n);
		if (n == 1 && *p == '*')
			m->all = true;
		p += n;
	}
}

void match_list_free(struct match_list *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->pats[i]);
	free(m->pats);
	memset(m, 0, sizeof(*m));
}

bool match_list_any(const struct match_list *m, const char *key, size_t klen)
{
	if (m->all)
		return true;
	for (size_t i = 0; i < m->n; i++)
		if (match_glob(m->pats[i], strlen(m->pats[i]), key, klen))
			return true;
	return false;
}
