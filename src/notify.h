/* notify: systemd's notify protocol (Type=notify).  Every call is a no-op
 * when NOTIFY_SOCKET is unset or the build has no libsystemd. */
#ifndef GCS_NOTIFY_H
#define GCS_NOTIFY_H

#include <stdbool.h>

struct event_base;

/* Starts the watchdog timer when systemd asked for one. */
void notify_init(struct event_base *base);
void notify_fini(void);
bool notify_supported(void);

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
/* Sends STATUS= when the line differs from the last one sent. */
void notify_status(const char *line);

#endif
