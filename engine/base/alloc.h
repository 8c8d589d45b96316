/* engine/base/alloc.h - allocation wrappers that abort on failure.
 * Out of memory is not an expected failure for a policy daemon: callers never check. */
#ifndef GREYSPF_BASE_ALLOC_H
#define GREYSPF_BASE_ALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n); /* copies at most n bytes and adds a NUL */

#endif
