/* fuzz_request: a control request line, as the daemon receives it (any
 * bytes, no newline, up to CTL_MAX_LINE).
 *
 * 1. cmd_parse() against an independent splitter: refused exactly when the
 *    line holds a control byte (tab aside); otherwise the same words.
 * 2. cmd_handle() on a stand-in daemon (stubs.c): exactly one reply, one
 *    line of valid JSON, an object whose first member is "ok".
 * 3. json_escape() of the bytes: a valid JSON string that decodes back to
 *    the same bytes. */
#include "config.h"

#include "cmd.h"
#include "ctl.h"
#include "fuzz.h"
#include "json.h"
#include "json_check.h"
#include "log.h"
#include "stubs.h"

static bool is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static void check_parse(const uint8_t *data, size_t size, int max)
{
	char *storage = xmalloc(size + 1);
	char *argv[CMD_MAX_ARGS];
	const char *err = NULL;
	int argc = cmd_parse((const char *)data, size, storage, argv, max, &err);
	bool has_ctl = false;
	int words = 0;
	size_t i = 0;

	for (size_t k = 0; k < size; k++)
		has_ctl |= is_ctl(data[k]);
	if (has_ctl) {
		FUZZ_CHECK(argc == -1 && err != NULL);
		free(storage);
		return;
	}
	/* The words as a plain loop sees them. */
	while (i < size) {
		size_t start;

		while (i < size && (data[i] == ' ' || data[i] == '\t'))
			i++;
		if (i == size)
			break;
		start = i;
		while (i < size && data[i] != ' ' && data[i] != '\t')
			i++;
		if (words == max) {
			words = -1;	/* too many */
			break;
		}
		if (argc >= 0) {
			FUZZ_CHECK(words < argc);
			FUZZ_CHECK(argv[words] >= storage && argv[words] + (i - start) <= storage + size);
			FUZZ_CHECK(strlen(argv[words]) == i - start);
			FUZZ_CHECK(memcmp(argv[words], data + start, i - start) == 0);
		}
		words++;
	}
	if (words < 0)
		FUZZ_CHECK(argc == -1 && err != NULL);
	else
		FUZZ_CHECK(argc == words);
	free(storage);
}

static void check_handle(const uint8_t *data, size_t size)
{
	struct ctl_client cl = {0};
	const char *r;

	buf_init(&cl.reply);
	cmd_handle(stubs_daemon(), &cl, (const char *)data, size);
	r = cl.reply.data;
	FUZZ_CHECK(cl.replies == 1);
	FUZZ_CHECK(strlen(r) == cl.reply.len);		/* no NUL inside */
	FUZZ_CHECK(memchr(r, '\n', cl.reply.len) == NULL);	/* one line */
	FUZZ_CHECK(json_valid(r, cl.reply.len));
	FUZZ_CHECK(strncmp(r, "{\"ok\":", 6) == 0);
	buf_free(&cl.reply);
}

static void check_escape(const uint8_t *data, size_t size)
{
	struct buf b;
	struct jc j;
	unsigned char *back = xmalloc(size * 4 + 1);
	size_t n = 0;

	buf_init(&b);
	json_escape(&b, data, size);
	FUZZ_CHECK(json_valid(b.data, b.len));
	j = (struct jc){(const unsigned char *)b.data, (const unsigned char *)b.data + b.len, 0};
	FUZZ_CHECK(jc_string(&j, back, &n));
	FUZZ_CHECK(n == size && memcmp(back, data, size) == 0);
	for (size_t k = 0; k < b.len; k++)
		FUZZ_CHECK((unsigned char)b.data[k] >= 0x20 && b.data[k] != 0x7f);
	free(back);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;

	if (!init) {
		log_set_level(LOG_LVL_ERROR);	/* flush and reload log at info */
		init = true;
	}
	if (size > CTL_MAX_LINE)	/* the socket refuses longer lines */
		return 0;
	check_parse(data, size, CMD_MAX_ARGS);
	check_parse(data, size, 2);
	check_handle(data, size);
	check_escape(data, size);
	return 0;
}
