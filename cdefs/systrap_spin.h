/* The adaptive spin of one side of the systrap handshake, one per side
 * and slot, kept in the slot's message (zero: spin the whole bound). Both
 * the stub (systrap_stub/stub.c, freestanding) and the sentry's helpers
 * (cdefs/systrap_helpers.c) include it, so the two sides learn by one rule.
 *
 * A spin pays off only when the other side answers within it; a syscall
 * that blocks (a read of an empty socket, epoll_wait, accept), or a CPU
 * the awaited side cannot get, makes every spin run out and burn its
 * whole bound for nothing, on both sides. So, as an adaptive mutex does:
 * a wait the spin caught doubles the next bound (up to the configured
 * one); a spin that ran out quarters it, and below an eighth of it the
 * side stops spinning for a rest of 1, 2, 4 ... 256 waits (doubling while
 * the probe after each rest runs out too), then probes with a quarter.
 * The program can write its slot, so every field is clamped where read. */
#ifndef SYSTRAP_SPIN_H
#define SYSTRAP_SPIN_H

#include <stdint.h>

struct systrap_spin {
    uint32_t cut;        /* the bound is the configured one >> cut */
    uint32_t rest;       /* waits left to make without spinning */
    uint32_t backoff;    /* log2 of the next rest */
    uint32_t caught;     /* waits the spin caught (a count, for tests and stats) */
};

enum { SPIN_CUT_MAX = 3, SPIN_CUT_PROBE = 2, SPIN_BACKOFF_MAX = 8 };

/* The spin for the next wait, given the configured bound `max`: 0 while
 * resting (a rest wait is used up here). */
static inline uint64_t systrap_spin_bound(struct systrap_spin *s, uint64_t max)
{
    uint32_t rest = s->rest;
    if (rest) {
        s->rest = rest - 1;
        return 0;
    }
    uint32_t cut = s->cut;
    return max >> (cut > SPIN_CUT_MAX ? SPIN_CUT_MAX : cut);
}

/* Learn from a wait that spun: `caught` if the answer came within it. */
static inline void systrap_spin_learn(struct systrap_spin *s, int caught)
{
    uint32_t cut = s->cut > SPIN_CUT_MAX ? SPIN_CUT_MAX : s->cut;
    if (caught) {
        s->cut = cut ? cut - 1 : 0;
        s->backoff = 0;
        s->caught++;
        return;
    }
    cut += 2;
    if (cut <= SPIN_CUT_MAX) {
        s->cut = cut;
        return;
    }
    uint32_t backoff = s->backoff > SPIN_BACKOFF_MAX ? SPIN_BACKOFF_MAX : s->backoff;
    s->rest = 1u << backoff;
    s->backoff = backoff < SPIN_BACKOFF_MAX ? backoff + 1 : SPIN_BACKOFF_MAX;
    s->cut = SPIN_CUT_PROBE;
}

#endif
