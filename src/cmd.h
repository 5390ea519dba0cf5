/* cmd: control requests: parsing a request line and running its command. */
#ifndef GCS_CMD_H
#define GCS_CMD_H

#include <stddef.h>

#include "util.h"

#define CMD_MAX_ARGS 64

/* Splits a request line into words.  Refuses control characters and NUL
 * bytes.  Returns the word count, or -1 with *err set.  The words point
 * into storage, which must hold len + 1 bytes. */
int cmd_parse(const char *line, size_t len, char *storage, char *argv[], int max, const char **err);

struct ctl_client;

/* ctl_handler_fn for the daemon (arg is the struct daemon). */
void cmd_handle(void *arg, struct ctl_client *cl, const char *line, size_t len);

#endif
