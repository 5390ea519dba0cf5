/* fuzz_ledger: a ledger log file with fuzzed contents, replayed by
 * ledger_open().
 *
 * - A file without the magic (8 bytes or more) is refused; one shorter
 *   than the magic is taken as new.  Otherwise the entries, in order, are
 *   those of a plain replay of the format in ledger_log.c (a model: a list
 *   where an 'A' appends a key or moves it to the tail, a 'D' removes it),
 *   and the torn tail it reports is the one the model sees.
 * - The log it leaves (tail cut) replays to the same entries; so does the
 *   log after taking, putting back and settling a few entries, and after a
 *   compaction. */
#include "config.h"

#include <sys/stat.h>

#include "fuzz.h"
#include "ledger.h"
#include "log.h"

#define KEY_MAX (512u << 20)

struct ent {
	const uint8_t *key;
	uint32_t klen, created;
	bool live;
};

struct model {
	struct ent *v;		/* in order of their last 'A'; dead ones skipped */
	size_t n, cap;
	size_t good;		/* the offset past the last whole record */
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static struct ent *find(struct model *m, const uint8_t *key, uint32_t klen)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].live && m->v[i].klen == klen && memcmp(m->v[i].key, key, klen) == 0)
			return &m->v[i];
	return NULL;
}

static void model_replay(const uint8_t *d, size_t size, struct model *m)
{
	size_t off = 8;

	memset(m, 0, sizeof(*m));
	m->good = 8;
	while (size - off >= 9) {
		uint8_t type = d[off];
		uint32_t created = le32(d + off + 1), klen = le32(d + off + 5);
		const uint8_t *key = d + off + 9;
		struct ent *e;

		if (klen > KEY_MAX || klen > size - off - 9 || (type != 'A' && type != 'D'))
			break;
		e = find(m, key, klen);
		if (e != NULL)
			e->live = false;
		if (type == 'A') {
			if (m->n == m->cap) {
				m->cap = m->cap ? 2 * m->cap : 64;
				m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
			}
			m->v[m->n++] = (struct ent){key, klen, created, true};
		}
		off += 9 + klen;
		m->good = off;
	}
}

static size_t model_live(const struct model *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += m->v[i].live;
	return n;
}

/* The ledger holds the model's live entries, in order; skip leading ones. */
static void check_entries(const struct ledger *l, const struct model *m, size_t skip)
{
	const struct ledger_entry *e = ledger_head(l);

	FUZZ_CHECK(ledger_count(l) + skip == model_live(m));
	FUZZ_CHECK(ledger_flushable(l) == (ledger_count(l) > 0));	/* no marks here */
	for (size_t i = 0; i < m->n; i++) {
		if (!m->v[i].live)
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
		FUZZ_CHECK(e != NULL && !ledger_is_mark(e));
		FUZZ_CHECK(e->klen == m->v[i].klen && memcmp(e->key, m->v[i].key, e->klen) == 0);
		FUZZ_CHECK(e->created == m->v[i].created);
		FUZZ_CHECK(ledger_contains(l, e->key, e->klen));
		e = ledger_next(e);
	}
	FUZZ_CHECK(e == NULL);
}

static struct ledger *reopen(const char *path, struct ledger *old)
{
	struct ledger *l = ledger_new();
	char *err = NULL;
	int rc;

	ledger_free(old);
	rc = ledger_open(l, path, &err);
	if (rc != 0)
		fprintf(stderr, "ledger_open: %d %s\n", rc, err ? err : "");
	FUZZ_CHECK(rc == 0);
	return l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *path;
	struct ledger *l = ledger_new();
	struct ledger_entry *taken[4];
	struct model m;
	struct stat st;
	char *err = NULL;
	size_t n;
	int rc;

	if (path == NULL) {
		log_set_level(LOG_LVL_ERROR);
		path = xasprintf("%s/fuzz.ledger", fuzz_tmpdir());
	}
	if (size > (1 << 20))
		return 0;
	fuzz_write_file(path, data, size);
	rc = ledger_open(l, path, &err);
	if (size >= 8 && memcmp(data, "GCSLEDG1", 8) != 0) {
		FUZZ_CHECK(rc == -1 && err != NULL);
		free(err);
		ledger_free(l);
		return 0;
	}
	if (size < 8)
		data = (const uint8_t *)"GCSLEDG1", size = 8;	/* taken as new */
	model_replay(data, size, &m);
	FUZZ_CHECK(rc == (int)(size - m.good));
	FUZZ_CHECK(stat(path, &st) == 0 && (size_t)st.st_size == m.good);
	check_entries(l, &m, 0);

	/* What it left replays the same. */
	l = reopen(path, l);
	check_entries(l, &m, 0);

	/* Take two, put one back, settle the other: logged as its delete. */
	n = ledger_take(l, taken, 2);
	FUZZ_CHECK(n == (model_live(&m) < 2 ? model_live(&m) : 2));
	if (n == 2)
		ledger_put_back(l, &taken[1], 1);
	if (n >= 1)
		ledger_done(l, taken[0]);
	FUZZ_CHECK(ledger_sync(l, &err) == 0);
	check_entries(l, &m, n >= 1);
	l = reopen(path, l);
	check_entries(l, &m, n >= 1);

	/* A compaction keeps the same entries. */
	FUZZ_CHECK(ledger_compact(l, &err) == 0);
	l = reopen(path, l);
	check_entries(l, &m, n >= 1);
	ledger_free(l);
	free(m.v);
	return 0;
}
