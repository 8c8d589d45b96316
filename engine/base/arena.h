/* engine/base/arena.h - bump allocator for everything one policy request owns.
 * The first block may be caller-provided (embedded in the job) so a typical request costs
 * no malloc; overflow blocks are malloc'ed and freed by arena_reset/arena_fini.
 * Not thread-safe: an arena belongs to whoever owns the request at the moment. */
#ifndef GREYSPF_BASE_ARENA_H
#define GREYSPF_BASE_ARENA_H
#include <stddef.h>

struct arena_block;

struct arena {
    char *cur, *end;             /* free space in the current block */
    char *first;                 /* caller's initial buffer (not freed), may be NULL */
    size_t first_size;
    struct arena_block *blocks;  /* malloc'ed overflow blocks, newest first */
};

/* arena_init - start an arena on buf[0..size) (buf may be NULL, size 0) */
void arena_init(struct arena *a, void *buf, size_t size);
/* arena_alloc - n bytes aligned for any type; never NULL (aborts on OOM) */
void *arena_alloc(struct arena *a, size_t n);
/* arena_strndup - copy s[0..n) plus NUL; s need not be NUL-terminated */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* arena_reset - free overflow blocks and rewind to the initial buffer */
void arena_reset(struct arena *a);
/* arena_fini - free everything the arena allocated; the arena may be re-initialised */
void arena_fini(struct arena *a);

#endif
