/* engine/base/arena.c - bump allocator; see arena.h. */
#include "engine/base/arena.h"
#include "engine/base/alloc.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN alignof(max_align_t)
#define ARENA_BLOCK_MIN 4096u

struct arena_block {
    struct arena_block *next;
    alignas(max_align_t) char data[];
};

void arena_init(struct arena *a, void *buf, size_t size)
{
    a->first = buf;
    a->first_size = buf ? size : 0;
    a->blocks = NULL;
    a->cur = a->first;
    a->end = a->first ? a->first + a->first_size : NULL;
}

/* align_up - round p up to ARENA_ALIGN */
static char *align_up(char *p)
{
    uintptr_t v = (uintptr_t)p;
    v = (v + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
    return (char *)v;
}

void *arena_alloc(struct arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    if (a->cur) {
        char *p = align_up(a->cur);
        if (p <= a->end && (size_t)(a->end - p) >= n) {
            a->cur = p + n;
            return p;
        }
    }
    size_t size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
    struct arena_block *b = xmalloc(sizeof(*b) + size);
    b->next = a->blocks;
    a->blocks = b;
    a->cur = b->data + n;
    a->end = b->data + size;
    return b->data;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->blocks;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena_init(a, a->first, a->first_size);
}

void arena_fini(struct arena *a)
{
    arena_reset(a);
}
