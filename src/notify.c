/* notify: systemd's notify protocol, driven from the event loop. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"
#include "notify.h"
#include "util.h"

static struct event *watchdog_timer;
static char *last_status;

bool notify_supported(void)
{
#ifdef HAVE_SYSTEMD
	return true;
#else
	return false;
#endif
}

static void send_state(const char *state)
{
#ifdef HAVE_SYSTEMD
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_debug("sd_notify: %s", strerror(-rc));
#else
	(void)state;
#endif
}

#ifdef HAVE_SYSTEMD
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	send_state("WATCHDOG=1");
}
#endif

void notify_init(struct event_base *base)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;

	/* Ping at half the interval, computed in microseconds: a whole-second
	 * rounding would miss a WatchdogSec below two seconds. */
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		struct timeval tv = {(time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000)};

		watchdog_timer = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
		event_add(watchdog_timer, &tv);
		log_info("systemd watchdog: pinging every %.3fs", (double)usec / 2e6);
		send_state("WATCHDOG=1");
	}
#else
	(void)base;
#endif
}

void notify_fini(void)
{
	if (watchdog_timer != NULL)
		event_free(watchdog_timer);
	watchdog_timer = NULL;
	free(last_status);
	last_status = NULL;
}

void notify_ready(void)
{
	send_state("READY=1");
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	send_state(msg);
}

void notify_stopping(void)
{
	send_state("STOPPING=1");
}

void notify_status(const char *line)
{
	char *msg;

	if (last_status != NULL && strcmp(last_status, line) == 0)
		return;
	free(last_status);
	last_status = xstrdup(line);
	msg = xasprintf("STATUS=%s", line);
	send_state(msg);
	free(msg);
}
