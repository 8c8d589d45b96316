/* engine/spf_memo.h - the memo's side facing the evaluator (spf_eval.c); the caller's side
 * is in spf.h. Internal to the SPF evaluator.
 *
 * A memo holds, per (name, type), the answer if one arrived, and three flags:
 *   wanted   - the current evaluation run asked for it and it has no answer
 *   needed   - ... and the run is blocked on it (else it is a prefetch)
 *   handed   - spf_memo_take_wanted gave it to the caller (never given twice)
 * spf_memo_run_begin clears wanted/needed, so they always describe the latest run, and
 * rewinds the run's scratch arena. Answers are copied into the memo's own arena and stay
 * until spf_memo_destroy; the evaluator may hang derived data (a parsed record) on a slot. */
#ifndef GREYSPF_ENGINE_SPF_MEMO_H
#define GREYSPF_ENGINE_SPF_MEMO_H
#include <stdbool.h>

#include "dns/dns.h"
#include "engine/base/arena.h"
#include "engine/spf.h"

struct spf_memo_slot {
    const struct dns_answer *ans; /* NULL until an answer is put */
    void *cache;                  /* evaluator data derived from ans, in spf_memo_arena */
};

enum spf_memo_want {
    SPF_MEMO_PEEK,     /* only look */
    SPF_MEMO_NEED,     /* the run is blocked on it if missing */
    SPF_MEMO_PREFETCH, /* wanted if missing, not blocking */
};

/* spf_memo_run_begin - start an evaluation run: clear wanted/needed, rewind the scratch */
void spf_memo_run_begin(struct spf_memo *m);
/* spf_memo_slot - the slot of (name, type); name is compared ASCII case-insensitively and
 * without a trailing dot, as spf_memo_put keys answers.
 * A missing answer is recorded as `want` says. NULL only for SPF_MEMO_PEEK of an unknown
 * key. The slot stays valid until spf_memo_destroy. */
struct spf_memo_slot *spf_memo_slot(struct spf_memo *m, const char *name, enum dns_type type,
                                    enum spf_memo_want want);
/* spf_memo_scratch - the current run's arena (rewound by spf_memo_run_begin) */
struct arena *spf_memo_scratch(struct spf_memo *m);
/* spf_memo_arena - an arena that lives as long as the memo (slot caches) */
struct arena *spf_memo_arena(struct spf_memo *m);

#endif
