/* The adaptive spin of one side of the systrap handshake, one per side
 * and slot, kept in the slot's message (zero: spin). Both the stub
 * (systrap_stub/stub.c, freestanding) and the sentry's helpers
 * (cdefs/systrap_helpers.c) include it, so the two sides learn by one rule.
 *
 * A spin pays off only when the other side answers within it; a syscall
 * that blocks (a read of an empty socket, epoll_wait, accept), or a CPU
 * the awaited side cannot get, makes the spin run out and burn its whole
 * bound for nothing, and a spin caught late costs more CPU than the futex
 * sleep and wake it saves. So each side keeps `miss`, a moving share (of
 * 256, weight 1/8 for each wait) of its recent waits that took longer
 * than the bound, timed whether it spun or slept, and spins only while
 * that share is under 3/16: one blocking call in ten quick ones leaves
 * the spin on; two in a row turn it off, and a few quick waits back on.
 * A wait the sentry says will block (its call sleeps in the sentry: the
 * stub's `stop`) stops the spin at once and is not counted.
 * Every 16th wait spins anyway, and one such probe caught turns the spin
 * back on: a side whose sleeps look long only because its wake-up is
 * slow finds out that a spin would catch.
 * The program can write its slot, so every field is clamped where read. */
#ifndef SYSTRAP_SPIN_H
#define SYSTRAP_SPIN_H

#include <stdint.h>

struct systrap_spin {
    uint32_t miss;       /* of 256: recent waits longer than the bound */
    uint32_t waits;      /* waits counted (its low bits pick the probes) */
    uint32_t caught;     /* waits the spin caught (for tests and stats) */
    uint32_t stop;       /* (the stub's) the sentry's call blocks: sleep now */
};

enum { SPIN_MISS_ONE = 256, SPIN_MISS_MAX = 48, SPIN_PROBE_EVERY = 16 };

/* Whether the next wait spins (for its whole bound). */
static inline int systrap_spin_next(struct systrap_spin *s)
{
    uint32_t waits = s->waits++;
    return s->miss <= SPIN_MISS_MAX || waits % SPIN_PROBE_EVERY == SPIN_PROBE_EVERY - 1;
}

/* Learn from a wait that took `took` TSC cycles against the bound `max`,
 * caught by the spin or not. */
static inline void systrap_spin_learn(struct systrap_spin *s, uint64_t took, uint64_t max,
                                      int caught)
{
    uint32_t miss = s->miss > SPIN_MISS_ONE ? SPIN_MISS_ONE : s->miss;
    if (caught && miss > SPIN_MISS_MAX)
        miss = SPIN_MISS_MAX;              /* (a probe's) */
    else if (took <= max)
        miss -= miss / 8;
    else
        miss += (SPIN_MISS_ONE - miss) / 8;
    s->miss = miss;
    s->caught += caught != 0;
}

#endif
