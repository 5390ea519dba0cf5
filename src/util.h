/* util: allocation that aborts on failure, a growable byte buffer, control
 * bytes, time. */
#ifndef GCS_UTIL_H
#define GCS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
/* Private anonymous read-write pages, zeroed; munmap to free. */
void *xmmap(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A growable byte buffer; always NUL-terminated so it can be used as a C string. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Control bytes: the C0 set (0x00-0x1f) and DEL (0x7f), which a terminal
 * or a line-oriented reader acts on.  Bytes from 0x80 up are not: UTF-8 text
 * passes.  KEEP (NULL for none) names the control bytes a caller allows,
 * such as "\t" in a log line or "\n" in a multi-line message; NUL can never
 * be kept, since it cannot stand in a C string. */
bool ctl_byte(unsigned char c, const char *keep);
/* The first control byte of s[0..n) that KEEP does not allow, or NULL. */
const char *ctl_find(const char *s, size_t n, const char *keep);
/* Replaces each control byte of the C string s that KEEP does not allow
 * with '?', in place; returns s. */
char *ctl_scrub(char *s, const char *keep);
/* Appends p[0..n) to b with each control byte that KEEP does not allow
 * written as \xNN. */
void buf_put_ctl_escaped(struct buf *b, const void *p, size_t n, const char *keep);

/* Wall clock and monotonic clock in seconds. */
double time_now(void);
double time_mono(void);

/* Writes all of data at offset off, through short writes and EINTR; -1
 * with errno set on failure (EIO for a write that makes no progress). */
int pwrite_all(int fd, const void *data, size_t len, uint64_t off);

#endif
