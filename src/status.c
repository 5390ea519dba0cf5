/* status: a shard's status object in the control socket's JSON, rendered
 * from one stats snapshot (stats.h) and the shard's settings (the config
 * table, with the effective policy and where each value came from).  It
 * only renders: it owns no state and asks no part of the shard anything. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "conf.h"
#include "hist.h"
#include "json.h"
#include "policy.h"
#include "stats.h"
#include "status.h"

/* A histogram as {"count":N,"sum":S,"buckets":{"0.0001":n,...,"+Inf":N}},
 * the buckets cumulative and labelled as in the metrics. */
static void hist_json(const struct hist *h, struct json *j)
{
	json_obj_begin(j);
	json_key(j, "count");
	json_uint(j, h->count);
	json_key(j, "sum");
	json_double(j, round(h->sum * 1e6) / 1e6);
	json_key(j, "buckets");
	json_obj_begin(j);
	for (size_t i = 0; i <= HIST_NBOUNDS; i++) {
		json_key(j, hist_le(i));
		json_uint(j, hist_cumulative(h, i));
	}
	json_obj_end(j);
	json_obj_end(j);
}

static void field_json(const struct stats_field *f, const struct shard_stats *st, struct json *j)
{
	const void *v = (const char *)st + f->offset;

	json_key(j, f->name);
	switch (f->kind) {
	case STATS_TEXT:
		json_str(j, *(const char *const *)v);	/* NULL: null */
		break;
	case STATS_COUNTER:
	case STATS_UINT:
		json_uint(j, *(const uint64_t *)v);
		break;
	case STATS_UINT_OPT:
		if (*(const uint64_t *)v == STATS_UNKNOWN)
			json_null(j);
		else
			json_uint(j, *(const uint64_t *)v);
		break;
	case STATS_REAL:
		if (isnan(*(const double *)v))
			json_null(j);
		else
			json_double(j, round(*(const double *)v * 1000) / 1000);
		break;
	case STATS_BOOL:
		json_bool(j, *(const bool *)v);
		break;
	case STATS_HIST:
		hist_json(v, j);
		break;
	}
}

/* One setting's effective value: the policy's for its runtime fields
 * (they may come from the runtime hash), else the config's. */
static void setting_json(const struct conf_key *k, const struct shard_conf *sc, const struct policy *p,
			 struct buf *text, struct json *j)
{
	int f = policy_field_find(k->name);
	enum conf_source src = (enum conf_source)sc->source[conf_key_index(k)];

	json_key(j, "value");
	if (f >= 0) {
		if (policy_field_word(p, f) != NULL)
			json_str(j, policy_field_word(p, f));
		else if (k->type == CT_SECS || k->type == CT_SHARE)
			json_double(j, policy_field_value(p, f));
		else
			json_uint(j, (uint64_t)policy_field_value(p, f));
		src = policy_field_source(p, f);
	} else {
		buf_reset(text);
		conf_format_value(k, sc, text);
		if (k->type == CT_STR || k->type == CT_ENUM)
			json_str(j, text->data);
		else if (k->type == CT_BOOL)
			json_bool(j, strcmp(text->data, "yes") == 0);
		else
			json_raw(j, text->data);
	}
	json_key(j, "source");
	json_str(j, conf_source_name(src));
}

void status_settings_json(const struct shard_conf *sc, const struct policy *p, struct json *j)
{
	size_t n;
	const struct conf_key *keys = conf_keys(&n);
	struct buf text;

	buf_init(&text);
	json_key(j, "settings");
	json_obj_begin(j);
	for (size_t i = 0; i < n; i++) {
		if (keys[i].scope == CS_DAEMON || (keys[i].flags & CK_SECRET))
			continue;
		json_key(j, keys[i].name);
		json_obj_begin(j);
		setting_json(&keys[i], sc, p, &text, j);
		json_obj_end(j);
	}
	json_obj_end(j);
	buf_free(&text);
}

void status_fields_json(const struct shard_stats *st, struct json *j)
{
	for (size_t i = 0; i < stats_nfields; i++)
		field_json(&stats_fields[i], st, j);
}
