/* match: Redis-style glob patterns over binary keys. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "util.h"

/* Matches one [...] class at pat (just past '['); sets *used to the bytes
 * of the class, closing ']' included. */
static bool match_class(const char *pat, size_t plen, unsigned char c, size_t *used)
{
	size_t i = 0;
	bool neg = false, hit = false;

	if (i < plen && pat[i] == '^') {
		neg = true;
		i++;
	}
	while (i < plen && pat[i] != ']') {
		if (pat[i] == '\\' && i + 1 < plen) {
			hit |= (unsigned char)pat[i + 1] == c;
			i += 2;
		} else if (i + 2 < plen && pat[i + 1] == '-' && pat[i + 2] != ']') {
			unsigned char lo = (unsigned char)pat[i], hi = (unsigned char)pat[i + 2];

			if (lo > hi) {
				unsigned char t = lo;

				lo = hi;
				hi = t;
			}
			hit |= c >= lo && c <= hi;
			i += 3;
		} else {
			hit |= (unsigned char)pat[i] == c;
			i++;
		}
	}
	*used = i < plen ? i + 1 : i;	/* an unclosed class runs to the end */
	return hit != neg;
}

bool match_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
	/* Iterative with one backtrack point for the last '*': linear in
	 * practice and no recursion a hostile pattern could deepen. */
	size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;

	while (i < slen) {
		if (p < plen && pat[p] == '*') {
			while (p < plen && pat[p] == '*')
				p++;
			if (p == plen)
				return true;
			star_p = p;
			star_i = i;
			continue;
		}
		if (p < plen) {
			size_t used = 1;
			bool ok;

			if (pat[p] == '?') {
				ok = true;
			} else if (pat[p] == '[') {
				ok = match_class(pat + p + 1, plen - p - 1, (unsigned char)s[i], &used);
				used++;
			} else if (pat[p] == '\\' && p + 1 < plen) {
				ok = pat[p + 1] == s[i];
				used = 2;
			} else {
				ok = pat[p] == s[i];
			}
			if (ok) {
				p += used;
				i++;
				continue;
			}
		}
		if (star_p == (size_t)-1)
			return false;
		p = star_p;
		i = ++star_i;
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
