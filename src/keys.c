/* keys: gcs-flushctl's side of the replies that carry Redis key names
 * (oldest, flush --dry-run): each key as its exact bytes ("key", or
 * "key_base64" decoded), shown to people through fmt_key.  Only prints;
 * talking to the daemon is gcs-flushctl.c's. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "fmt.h"
#include "keys.h"
#include "util.h"

int keys_get(json_t *o, struct buf *key)
{
	json_t *s = json_object_get(o, "key"), *b = json_object_get(o, "key_base64");

	buf_reset(key);
	if (json_is_string(s)) {
		/* Read with JSON_ALLOW_NUL: the length, not strlen, is the key's. */
		buf_append(key, json_string_value(s), json_string_length(s));
		return 0;
	}
	if (json_is_string(b))
		return base64_decode(key, json_string_value(b), json_string_length(b));
	return -1;
}

/* "2026-12-03T14:00:01Z" */
static char *utc_cell(json_t *when)
{
	char text[32];
	time_t t;
	struct tm tm;

	if (!json_is_number(when))
		return xstrdup("-");
	t = (time_t)json_number_value(when);
	if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return xstrdup("-");
	return xstrdup(text);
}

static char *age_cell(json_t *age)
{
	char text[FMT_DURATION_LEN];

	return xstrdup(json_is_number(age) ? fmt_duration(json_number_value(age), text, sizeof(text)) : "-");
}

/* The key of o, escaped for the terminal, or NULL when o has none. */
static char *key_cell(json_t *o)
{
	struct buf raw, out;
	char *cell = NULL;

	buf_init(&raw);
	buf_init(&out);
	if (keys_get(o, &raw) == 0) {
		fmt_key(&out, raw.data, raw.len);
		cell = xstrdup(out.data);
	}
	buf_free(&raw);
	buf_free(&out);
	return cell;
}

/* A node's address from the daemon, printable. */
static char *node_cell(json_t *e)
{
	const char *s = json_string_value(json_object_get(e, "node"));

	return ctl_scrub(xstrdup(s ? s : "-"), "");
}

const char *keys_print_oldest(json_t *reply)
{
	static const bool right[4] = {true, false, false, false};
	json_t *entries = json_object_get(reply, "entries"), *e;
	size_t n = json_array_size(entries), i, c, ncols = 3;
	char **cells;
	const char *bad = NULL;
	struct buf table;

	if (!json_is_array(entries) || !json_is_integer(json_object_get(reply, "tracked")) ||
	    !json_is_integer(json_object_get(reply, "flushable")))
		return "no \"entries\", \"tracked\" or \"flushable\"";
	/* A cluster or Sentinel shard names the node of each entry. */
	json_array_foreach(entries, i, e)
		if (json_is_string(json_object_get(e, "node")))
			ncols = 4;
	cells = xcalloc((n + 1) * ncols, sizeof(*cells));
	cells[0] = xstrdup("AGE");
	cells[1] = xstrdup("CREATED (UTC)");
	cells[ncols - 1] = xstrdup("KEY");
	if (ncols == 4)
		cells[2] = xstrdup("NODE");
	json_array_foreach(entries, i, e) {
		c = (i + 1) * ncols;
		cells[c] = age_cell(json_object_get(e, "age_s"));
		cells[c + 1] = utc_cell(json_object_get(e, "created_unix"));
		if (ncols == 4)
			cells[c + 2] = node_cell(e);
		if ((cells[c + ncols - 1] = key_cell(e)) == NULL) {
			cells[c + ncols - 1] = xstrdup("?");
			bad = "an entry without a key";
		}
	}
	buf_init(&table);
	if (n > 0)
		fmt_table(&table, cells, n + 1, ncols, right);
	buf_printf(&table, "%zu of %" JSON_INTEGER_FORMAT " tracked entries, oldest first", n,
		   json_integer_value(json_object_get(reply, "tracked")));
	if ((json_int_t)n > json_integer_value(json_object_get(reply, "flushable")))
		buf_printf(&table, "; a flush can take the first %" JSON_INTEGER_FORMAT
			   " now, the rest once a reconciliation has filled the gap before them",
			   json_integer_value(json_object_get(reply, "flushable")));
	buf_putc(&table, '\n');
	fputs(table.data, stdout);
	buf_free(&table);
	for (i = 0; i < (n + 1) * ncols; i++)
		free(cells[i]);
	free(cells);
	return bad;
}

/* "first: KEY (created 2026-12-03T14:00:01Z, 5m 03s ago[, on NODE])" */
static void end_line(const char *label, json_t *e)
{
	char *key = key_cell(e), *when = utc_cell(json_object_get(e, "created_unix"));
	char *age = age_cell(json_object_get(e, "age_s")), *node = node_cell(e);

	printf("%s %s (created %s, %s ago%s%s)\n", label, key ? key : "?", when, age,
	       json_is_string(json_object_get(e, "node")) ? ", on " : "",
	       json_is_string(json_object_get(e, "node")) ? node : "");
	free(key);
	free(when);
	free(age);
	free(node);
}

const char *keys_print_dry_run(json_t *reply)
{
	static const char *const stops[][2] = {
		{"end", " (no more tracked entries)"},
		{"reconciliation", " (a flush stops at the gap that a running reconciliation is filling)"},
		{"limit", " (a dry run looks no further)"},
	};
	json_t *would = json_object_get(reply, "would_flush"), *est = json_object_get(reply, "estimated_bytes");
	const char *stop = json_string_value(json_object_get(reply, "stops_at")), *why = "";
	const char *err = json_string_value(json_object_get(reply, "sample_error"));
	char size[FMT_SIZE_LEN], sample[FMT_SIZE_LEN];

	if (!json_is_integer(would) || !json_is_integer(json_object_get(reply, "requested")))
		return "no \"would_flush\" or \"requested\"";
	for (size_t i = 0; stop != NULL && i < ARRAY_SIZE(stops); i++)
		if (strcmp(stop, stops[i][0]) == 0)
			why = stops[i][1];
	printf("dry run: a flush of %" JSON_INTEGER_FORMAT " would take %s%" JSON_INTEGER_FORMAT " entries%s; "
	       "nothing was deleted\n",
	       json_integer_value(json_object_get(reply, "requested")),
	       stop != NULL && strcmp(stop, "limit") == 0 ? "at least " : "", json_integer_value(would), why);
	if (json_is_object(json_object_get(reply, "first"))) {
		end_line("first:", json_object_get(reply, "first"));
		end_line("last: ", json_object_get(reply, "last"));
	}
	if (json_is_integer(est)) {
		fmt_size((uint64_t)json_integer_value(est), size, sizeof(size));
		fmt_size((uint64_t)json_integer_value(json_object_get(reply, "sample_bytes")), sample, sizeof(sample));
		printf("would free about %s (MEMORY USAGE of %" JSON_INTEGER_FORMAT " keys spread over them: %s; "
		       "%" JSON_INTEGER_FORMAT " already gone)\n",
		       size, json_integer_value(json_object_get(reply, "sampled")), sample,
		       json_integer_value(json_object_get(reply, "sample_gone")));
	} else {
		printf("no size estimate: %s\n", err ? err : "no sample");
	}
	return NULL;
}
