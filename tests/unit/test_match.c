/* Unit tests for match: Redis-style globs over binary keys. */
#include "config.h"

#include "match.h"
#include "tap.h"

static bool m(const char *pat, const char *s)
{
	return match_glob(pat, strlen(pat), s, strlen(s));
}

int main(void)
{
	struct match_list l;

	ok(m("*", "") && m("*", "anything"), "* matches everything");
	ok(m("task:*", "task:1") && !m("task:*", "object:1"), "prefix");
	ok(m("*:1", "task:1") && !m("*:1", "task:12"), "suffix");
	ok(m("t?sk", "task") && !m("t?sk", "tsk"), "? is one byte");
	ok(m("[ot]*", "task") && m("[ot]*", "object") && !m("[ot]*", "log"), "class");
	ok(m("k[0-9]", "k7") && !m("k[0-9]", "kx"), "range");
	ok(m("k[^0-9]", "kx") && !m("k[^0-9]", "k7"), "negated class");
	ok(m("a\\*b", "a*b") && !m("a\\*b", "axb"), "escaped star");
	ok(m("*a*b*c*", "xxaxxbxxcxx") && !m("*a*b*c*", "xxaxxcxxbxx"), "several stars backtrack");
	ok(!m("a*", "") && m("**", ""), "empty key");
	ok(match_glob("a?c", 3, "a\0c", 3), "binary keys with NUL");
	ok(!m("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), "no match, no blow-up");

	match_list_init(&l, " task:*  object:* ");
	ok(l.n == 2 && !l.all, "two patterns");
	ok(match_list_any(&l, "object:5", 8) && !match_list_any(&l, "log:5", 5), "any of the list");
	match_list_free(&l);
	match_list_init(&l, "x:* *");
	ok(l.all && match_list_any(&l, "whatever", 8), "a lone * matches all");
	match_list_free(&l);
	return tap_done();
}
