/* log: levelled logging to stderr; journald priority prefixes under systemd. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/time.h>

#include "log.h"
#include "util.h"

static enum log_level log_level = LOG_LVL_INFO;
static bool log_journal;	/* stderr goes to journald: it stamps time itself */

static const struct {
	const char *name;
	enum log_level level;
} log_levels[] = {
	{"error", LOG_LVL_ERROR},
	{"warning", LOG_LVL_WARNING},
	{"notice", LOG_LVL_NOTICE},
	{"info", LOG_LVL_INFO},
	{"debug", LOG_LVL_DEBUG},
};

void log_init(void)
{
	/* systemd sets JOURNAL_STREAM when stderr is connected to the journal. */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (strcasecmp(name, log_levels[i].name) == 0)
			return (int)log_levels[i].level;
	return -1;
}

const char *log_level_name(enum log_level level)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_levels); i++)
		if (log_levels[i].level == level)
			return log_levels[i].name;
	return "?";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct buf b, msg;
	va_list ap;

	if (!log_enabled(level))
		return;
	buf_init(&b);
	buf_init(&msg);
	if (log_journal) {
		buf_printf(&b, "<%d>", (int)level);
	} else {
		struct timeval tv;
		struct tm tm;
		char stamp[32];

		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		buf_printf(&b, "%s.%03d %s: ", stamp, (int)(tv.tv_usec / 1000), log_level_name(level));
	}
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	/* One message, one line: text from Redis (an error reply, a policy
	 * value) may hold newlines or terminal escapes.  Escaped, not replaced,
	 * so that the log still tells what the bytes were; a tab is harmless. */
	buf_put_ctl_escaped(&b, msg.data, msg.len, "\t");
	buf_putc(&b, '\n');
	/* One write per line keeps lines whole when several writers share stderr. */
	fwrite(b.data, 1, b.len, stderr);
	fflush(stderr);
	buf_free(&msg);
	buf_free(&b);
}
