/* match-select: which keys our matcher selects, for tests/match_live.py to
 * compare with a live SCAN MATCH.
 *
 * usage: match-select KEYS <PATTERNS
 *
 * KEYS and PATTERNS hold one hex-encoded string a line (hex keeps NUL bytes,
 * newlines and the empty string intact).  For each pattern, in order, prints
 * one line of one character a key, in order: 1 when match_glob selects the
 * key, 0 when not.  Exit status 2 on a usage or input error. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match.h"
#include "util.h"

struct str {
	char *data;
	size_t len;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one line of hex (its newline, if any, dropped) in place. */
static int unhex(char *line, size_t n, struct str *out)
{
	if (n > 0 && line[n - 1] == '\n')
		n--;
	if (n % 2 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)line[i]), lo = hexval((unsigned char)line[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		line[i / 2] = (char)(hi << 4 | lo);
	}
	out->data = line;
	out->len = n / 2;
	return 0;
}

/* Reads every line of f; each decoded string keeps its own buffer. */
static struct str *read_all(FILE *f, size_t *count)
{
	struct str *v = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;

	while ((got = getline(&line, &cap, f)) >= 0) {
		v = xrealloc(v, (n + 1) * sizeof(*v));
		if (unhex(line, (size_t)got, &v[n]) < 0) {
			fprintf(stderr, "match-select: line %zu: not hex\n", n + 1);
			exit(2);
		}
		n++;
		line = NULL;	/* v[n - 1] owns it now */
		cap = 0;
	}
	free(line);
	*count = n;
	return v;
}

static void free_all(struct str *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].data);
	free(v);
}

int main(int argc, char **argv)
{
	struct str *keys, *pats;
	size_t nkeys, npats;
	FILE *f;
	char *row;

	if (argc != 2) {
		fprintf(stderr, "usage: match-select KEYS <PATTERNS\n");
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	keys = read_all(f, &nkeys);
	fclose(f);
	pats = read_all(stdin, &npats);
	row = xmalloc(nkeys + 2);
	for (size_t p = 0; p < npats; p++) {
		for (size_t k = 0; k < nkeys; k++)
			row[k] = match_glob(pats[p].data, pats[p].len, keys[k].data, keys[k].len) ? '1' : '0';
		row[nkeys] = '\n';
		fwrite(row, 1, nkeys + 1, stdout);
	}
	free(row);
	free_all(keys, nkeys);
	free_all(pats, npats);
	return fflush(stdout) == 0 ? 0 : 2;
}
