/* The adaptive spin of one side of the systrap handshake, one per side
 * and slot, kept in the slot's message (zero: spin). Both the stub
 * (systrap_stub/stub.c, freestanding) and the sentry's helpers
 * (cdefs/systrap_helpers.c) include it, so the two sides learn by one rule.
 *
 * A spin pays off only when the other side answers within it; a syscall
 * that blocks (a read of an empty socket, epoll_wait, accept), or a CPU
 * the awaited side cannot get, makes the spin run out and burn its whole
 * bound for nothing. So each side keeps `miss`, a moving share (of 256,
 * weight 1/8 for each wait) of its recent waits whose answer came later
 * than the bound, and spins only while that share is under 5/16: a
 * blocking call now and then leaves the spin on, three in a row turn it
 * off, and quick answers turn it back on. The answer's time is the one
 * the other side stamped in `ready_at` as it posted or replied, so a
 * wait that slept learns as much as one that spun, and a slow wake-up
 * is not taken for a slow answer. A wait the sentry says will block (its
 * call sleeps in the sentry: the stub's `stop`) stops the spin at once
 * and is not counted. The program can write its slot: every field is
 * clamped where read, and a stamp outside the wait is not believed. */
#ifndef SYSTRAP_SPIN_H
#define SYSTRAP_SPIN_H

#include <stdint.h>

struct systrap_spin {
    uint32_t miss;       /* of 256: recent waits answered later than the bound */
    uint32_t caught;     /* waits the spin caught (for tests and stats) */
    uint32_t stop;       /* (the stub's) the sentry's call blocks: sleep now */
    uint32_t pad;
    uint64_t ready_at;   /* TSC when the other side last posted or replied */
};

enum { SPIN_MISS_ONE = 256, SPIN_MISS_MAX = 80 };

/* Whether the next wait spins (for its whole bound). */
static inline int systrap_spin_next(const struct systrap_spin *s)
{
    return s->miss < SPIN_MISS_MAX;
}

/* Learn from a wait that began at TSC `start` and ended at `now`, against
 * the bound `max`; `caught`: by the spin. */
static inline void systrap_spin_learn(struct systrap_spin *s, uint64_t start, uint64_t now,
                                      uint64_t max, int caught)
{
    uint64_t at = __atomic_load_n(&s->ready_at, __ATOMIC_RELAXED);
    uint64_t took = at >= start && at <= now ? at - start : now - start;
    uint32_t miss = s->miss > SPIN_MISS_ONE ? SPIN_MISS_ONE : s->miss;
    if (took <= max)
        miss -= miss / 8;
    else
        miss += (SPIN_MISS_ONE - miss) / 8;
    s->miss = miss;
    s->caught += caught != 0;
}

#endif
