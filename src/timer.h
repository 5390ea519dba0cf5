/* timer.h: arming a libevent timer for a time in fractional seconds, the
 * one conversion every module with a timer needs. */
#ifndef GCS_TIMER_H
#define GCS_TIMER_H

#include <math.h>
#include <sys/time.h>

#include <event2/event.h>

/* (Re)arms ev to fire once, secs from now (negative: now). */
static inline void timer_arm(struct event *ev, double secs)
{
	struct timeval tv = {0, 0};

	if (secs > 0) {
		tv.tv_sec = (time_t)secs;
		tv.tv_usec = (suseconds_t)((secs - floor(secs)) * 1e6);
	}
	event_add(ev, &tv);
}

#endif
