/* secret: passwords held apart from ordinary memory, out of core dumps. */
#ifndef GCS_SECRET_H
#define GCS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

struct secret;

/* Copies len bytes of s into a mapping of its own, marked MADV_DONTDUMP
 * and mlock'ed where the memlock limit allows.  Aborts if no memory. */
struct secret *secret_new(const char *s, size_t len);
/* The secret as a NUL-terminated string; valid until secret_free. */
const char *secret_str(const struct secret *s);
/* Same bytes?  Two NULLs are equal, NULL and a secret are not. */
bool secret_equal(const struct secret *a, const struct secret *b);
/* Wipes the secret, then unmaps it.  NULL is a no-op. */
void secret_free(struct secret *s);
/* explicit_bzero: for the caller's transient copies of a secret. */
void secret_wipe(void *p, size_t n);

#endif
