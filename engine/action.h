/* engine/action.h - Postfix access(5) actions as greyspf replies them.
 * An action text is what follows "action=" in the reply: one line, no CR/LF/NUL. */
#ifndef GREYSPF_ENGINE_ACTION_H
#define GREYSPF_ENGINE_ACTION_H
#include <stddef.h>

#define ACTION_TEXT_MAX 1024

/* Classes in increasing strength; see pipeline.h for how stages compose them. */
enum action_class {
    ACTION_CLASS_DUNNO = 0,   /* DUNNO, WARN, INFO, PREPEND: no verdict, later restrictions run */
    ACTION_CLASS_ACCEPT,      /* OK, and an all-digit text (Postfix treats it as OK) */
    ACTION_CLASS_DIVERT,      /* HOLD, DISCARD, FILTER, REDIRECT, BCC */
    ACTION_CLASS_DEFER,       /* DEFER_IF_PERMIT, DEFER_IF_REJECT, DEFER, 4NN */
    ACTION_CLASS_REJECT,      /* REJECT, 5NN */
};

/* action_validate - check that text is an action Postfix 3.7 accepts: a known keyword
 * (case-insensitive) or a 4NN/5NN code, followed by optional text; PREPEND needs
 * "name: value" with a valid header name; FILTER/REDIRECT need an argument; no control
 * characters; at most ACTION_TEXT_MAX bytes. Returns 0, or -1 with a reason in why
 * (why may be NULL). */
int action_validate(const char *text, char *why, size_t whylen);
/* action_classify - class of a validated action text */
enum action_class action_classify(const char *text);

#endif
