/* Nonces of the 401s relayed (challenged.h). Open addressing over PROBE neighbouring slots. */
#include "cscf/pcscf/challenged.h"

#include <stdlib.h>

enum { PROBE = 8 };

typedef struct slot {
    uint64_t h; /* 0: empty */
    int64_t expires_ms;
} slot_t;

struct pc_challenged {
    slot_t *slots;
    size_t mask;
    int64_t ttl_ms;
    uint64_t seed;
};

/* FNV-1a over the nonce, seeded, then a finaliser so that the low bits index well; never 0. */
static uint64_t hash(const pc_challenged_t *c, const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ c->seed;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h | 1;
}

pc_challenged_t *pc_challenged_new(size_t slots, int64_t ttl_ms, uint64_t seed)
{
    size_t n = 64;
    while (n < slots && n < ((size_t)1 << 30))
        n <<= 1;
    pc_challenged_t *c = calloc(1, sizeof *c);
    if (!c || !(c->slots = calloc(n, sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->ttl_ms = ttl_ms;
    c->seed = seed;
    return c;
}

void pc_challenged_free(pc_challenged_t *c)
{
    if (c)
        free(c->slots);
    free(c);
}

void pc_challenged_note(pc_challenged_t *c, const char *nonce, int64_t now_ms)
{
    if (!c || !nonce || !*nonce)
        return;
    uint64_t h = hash(c, nonce);
    slot_t *victim = NULL, *oldest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &c->slots[(h + i) & c->mask];
        if (s->h == h) { /* noted again (the 401 retransmitted): the same slot */
            victim = s;
            break;
        }
        if (!victim && (!s->h || s->expires_ms <= now_ms))
            victim = s;
        if (!oldest || s->expires_ms < oldest->expires_ms)
            oldest = s;
    }
    if (!victim) /* all live: the one closest to expiry makes room */
        victim = oldest;
    victim->h = h;
    victim->expires_ms = now_ms + c->ttl_ms;
}

int pc_challenged_take(pc_challenged_t *c, const char *nonce, int64_t now_ms)
{
    if (!c || !nonce || !*nonce)
        return 0;
    uint64_t h = hash(c, nonce);
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &c->slots[(h + i) & c->mask];
        if (s->h == h && s->expires_ms > now_ms) {
            s->h = 0;
            return 1;
        }
    }
    return 0;
}
