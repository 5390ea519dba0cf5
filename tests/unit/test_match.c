/* Unit tests for match: Redis's glob, as SCAN MATCH applies it, over binary
 * keys.  Each answer here is what redis-server 7.0.15 (Debian 12) gives;
 * tests/match.bats compares random patterns with the live server. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>

#include "match.h"
#include "tap.h"

static bool m(const char *pat, const char *s)
{
	return match_glob(pat, strlen(pat), s, strlen(s));
}

/* Does pat select exactly the keys of yes (space-separated) and none of no? */
static bool only(const char *pat, const char *yes, const char *no)
{
	char *y = strdup(yes), *n = strdup(no), *k, *save;
	bool good = true;

	for (k = strtok_r(y, " ", &save); k != NULL; k = strtok_r(NULL, " ", &save))
		good &= m(pat, k);
	for (k = strtok_r(n, " ", &save); k != NULL; k = strtok_r(NULL, " ", &save))
		good &= !m(pat, k);
	free(y);
	free(n);
	return good;
}

/* unit repeated n times, then tail. */
static char *repeat(const char *unit, size_t n, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * n + tl + 1);

	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * n, tail, tl + 1);
	return s;
}

static void test_basics(void)
{
	ok(m("task:*", "task:1") && !m("task:*", "object:1"), "prefix");
	ok(m("*:1", "task:1") && !m("*:1", "task:12"), "suffix");
	ok(m("t?sk", "task") && !m("t?sk", "tsk"), "? is one byte");
	ok(only("[ot]*", "task object", "log"), "class");
	ok(only("k[0-9]", "k0 k7 k9", "kx k k77"), "range");
	ok(only("k[^0-9]", "kx k-", "k7 k"), "negated class");
	ok(only("a\\*b", "a*b", "axb ab"), "escaped star");
	ok(m("*a*b*c*", "xxaxxbxxcxx") && !m("*a*b*c*", "xxaxxcxxbxx"), "several stars backtrack");
	ok(!m("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"), "no match, no blow-up");
	ok(!m("*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"),
	   "many stars, no match, no blow-up");
}

static void test_empty_key(void)
{
	/* SCAN skips the matcher for a lone "*"; the matcher itself lets
	 * nothing but the empty pattern match the empty key. */
	ok(m("*", "") && m("*", "anything"), "a lone * matches everything, the empty key too");
	ok(!m("**", "") && m("**", "a"), "** does not match the empty key");
	ok(!m("a*", "") && m("a*", "a"), "a* needs its a");
	ok(m("", "") && !m("", "a"), "the empty pattern matches only the empty key");
	ok(!m("?", "") && !m("[^", "") && !m("\\", ""), "nothing else matches the empty key");
}

static void test_escapes(void)
{
	ok(only("\\", "\\", "a"), "a lone \\ is a literal backslash");
	ok(only("a\\", "a\\", "a"), "a trailing \\ is a literal backslash");
	ok(only("\\\\", "\\", "\\\\"), "\\\\ is one backslash");
	ok(only("\\a", "a", "\\a"), "\\a is a");
	ok(only("a\\*", "a*", "a ax"), "an escaped trailing star is not a star");
	ok(only("[\\]]", "]", "\\ ]]"), "\\] in a class is a member");
	ok(only("[\\-z]", "- z", "m"), "\\- in a class is not a range");
}

static void test_classes(void)
{
	ok(only("[c-a]", "a b c", "d `"), "a reversed range is swapped");
	ok(only("[-a]", "- a", "b"), "- first is a member");
	/* The byte after '-' ends the range even when it is ']'. */
	ok(only("k[a-]*", "k] k^ k_ k` ka k*", "k- kb kab k]x k"), "[a-]: the range ]..a, class unclosed");
	ok(only("[a-]x]", "x ^ ] a", "- x] b"), "[a-]x]: the range ]..a, then x, then ]");
	ok(only("[a-", "a -", "b [a-"), "[a- unclosed: a and -");
	ok(only("[a-\\]", "\\ ] _ a", "b [ \\]"), "[a-\\]: the range \\..a; the \\ is not an escape");
	ok(only("[\\]", "]", "\\ ]]"), "[\\]: an escaped ], class unclosed");
	ok(only("[a-b-c]", "a b - c", "d"), "after a range, - is a member");
}

static void test_unclosed(void)
{
	ok(!m("[", "[") && !m("[", "a") && !m("k[", "k") && !m("k[", "k["), "a trailing [ matches nothing");
	ok(only("[^", "x [ ^", "xy"), "a trailing [^ matches any one byte");
	ok(only("k[ab", "ka kb", "k k[ kab"), "an unclosed class takes the rest, and one byte");
	ok(only("[ab*", "a * b", "ab"), "a star in an unclosed class is a member");
	ok(!m("[]", "]") && !m("[]a]", "a]") && !m("[]a]", "a"), "[] matches nothing");
	ok(only("[^]a]", "xa] ]a]", "a a]"), "[^] matches any byte");
}

static void test_binary(void)
{
	bool sgn = CHAR_MIN < 0;

	ok(match_glob("a?c", 3, "a\0c", 3), "? takes a NUL");
	ok(match_glob("a\0*", 3, "a\0bc", 4) && !match_glob("a\0*", 3, "a", 1), "a NUL in the pattern is a byte");
	ok(match_glob("[\0-\1]", 5, "\0", 1) && !match_glob("[\0-\1]", 5, "\2", 1), "a range from NUL");
	ok(match_glob("*\0", 2, "x\0", 2) && !match_glob("*\0", 2, "x", 1), "a NUL after a star");
	/* Range ends are plain char, as in Redis: signed on x86-64. */
	ok(m("[a-\xff]", "\xff") && m("[a-\xff]", "a"), "[a-\\xff] has \\xff and a");
	ok(m("[a-\xff]", "\x01") == sgn && m("[a-\xff]", "b") == !sgn && m("[a-\xff]", "\x80") == !sgn,
	   "[a-\\xff] is \\xff and \\0..a where char is signed, a..\\xff where not");
	ok(m("[\x7f-\x80]", "a") == sgn && m("[\x7f-\x80]", "\x7f") && m("[\x7f-\x80]", "\x80"),
	   "[\\x7f-\\x80] is every byte where char is signed");
	ok(m("\xff*", "\xff\xfe") && !m("\xff*", "\xfe"), "high bytes compare as themselves");
}

/* Redis stops at 1000 nested stars (CVE-2024-31228): a 1001st star run
 * with anything after it makes the pattern match nothing. */
static void test_star_cap(void)
{
	char *a1000 = repeat("a", 1000, ""), *a1001 = repeat("a", 1001, ""), *a1002 = repeat("a", 1002, "");
	char *p;

	p = repeat("*a", 1000, "");
	ok(m(p, a1000) && m(p, a1001), "1000 star runs match");
	free(p);
	p = repeat("*a", 1000, "*");
	ok(m(p, a1000) && m(p, a1001), "1000 star runs and a trailing one match");
	free(p);
	p = repeat("*a", 1001, "");
	ok(!m(p, a1001) && !m(p, a1002), "1001 star runs, the last not trailing, match nothing");
	free(p);
	p = repeat("**a", 1001, "");
	ok(!m(p, a1001), "runs count, not stars");
	free(p);
	p = repeat("a*", 1001, "");
	ok(m(p, a1001) && !m(p, a1000), "a 1001st run that ends the pattern still matches");
	free(p);
	p = repeat("a*", 1002, "");
	ok(!m(p, a1002), "1002 runs match nothing");
	free(p);
	p = repeat("*", 5000, "a");
	ok(m(p, "a") && m(p, "ba"), "5000 stars in one run are one star");
	free(p);
	free(a1000);
	free(a1001);
	free(a1002);
}

static void test_list(void)
{
	struct match_list l;

	match_list_init(&l, " task:*  object:* ");
	ok(l.n == 2 && !l.all, "two patterns");
	ok(match_list_any(&l, "object:5", 8) && !match_list_any(&l, "log:5", 5), "any of the list");
	match_list_free(&l);
	match_list_init(&l, "x:* *");
	ok(l.all && match_list_any(&l, "whatever", 8) && match_list_any(&l, "", 0), "a lone * matches all");
	match_list_free(&l);
	match_list_init(&l, "** x:*");
	ok(!l.all && match_list_any(&l, "y", 1) && !match_list_any(&l, "", 0), "** is not all");
	match_list_free(&l);
}

int main(void)
{
	test_basics();
	test_empty_key();
	test_escapes();
	test_classes();
	test_unclosed();
	test_binary();
	test_star_cap();
	test_list();
	return tap_done();
}
