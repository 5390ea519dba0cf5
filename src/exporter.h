/* exporter: the daemon's /metrics endpoint: the HTTP listener that
 * metrics_listen names, kept across reloads, and the answer to a scrape
 * (every shard's stats snapshot, rendered by metrics.c). */
#ifndef GCS_EXPORTER_H
#define GCS_EXPORTER_H

struct daemon;
struct exporter;

struct exporter *exporter_new(struct daemon *d);
/* Serves on addr ("" for nowhere) from now on.  When addr differs from the
 * current one, the old listener closes and the new one opens; if that
 * fails, the old one opens again and this returns -1 with *err (which
 * names metrics_listen), so that a reload can fail and change nothing. */
int exporter_listen(struct exporter *e, const char *addr, char **err);
void exporter_free(struct exporter *e);

#endif
