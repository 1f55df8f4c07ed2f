/* GET /api/v1/bindings: the P-CSCF's bindings with their SA sets (algorithms, SPIs, ports,
 * state, the datapath's counters; never keys), and the ipsec_sa_sets gauge. REST handlers run
 * on the HTTP thread and read the table through loopq_call. */
#include "cscf/pcscf/state.h"
#include "cscf/pcscf/state_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *sa_json(const pcscf_t *pc, const pc_sa_t *sa)
{
    const ipsec_sa_set_t *s = &sa->set;
    ipsec_sa_stats_t st = {0};
    int installed = pcscf_state_sa_stats(pc, s, &st) == 0;
    const char *alg = ipsec_alg_name(s->keys.alg), *ealg = ipsec_ealg_name(s->keys.ealg);
    return json_pack("{s:s,s:s?,s:s?,s:s,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:b,s:I,s:I,s:I,s:I,s:I}",
                     "state", pcscf_sa_state_name(sa->state), "alg", alg, "ealg", ealg, "ue_addr",
                     s->ue_addr, "spi_uc", (json_int_t)s->spi_uc, "spi_us", (json_int_t)s->spi_us,
                     "spi_pc", (json_int_t)s->spi_pc, "spi_ps", (json_int_t)s->spi_ps, "port_uc",
                     s->port_uc, "port_us", s->port_us, "port_pc", s->port_pc, "port_ps",
                     s->port_ps, "installed", installed, "until_ms", (json_int_t)sa->until_ms,
                     "packets_in", (json_int_t)st.packets_in, "bytes_in", (json_int_t)st.bytes_in,
                     "packets_out", (json_int_t)st.packets_out, "bytes_out",
                     (json_int_t)st.bytes_out);
}

json_t *pcscf_binding_rest_json(const pcscf_t *pc, const pc_binding_t *b, int64_t now)
{
    json_t *sets = json_array();
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++)
        if (b->sa[i].state != PC_SA_NONE)
            json_array_append_new(sets, sa_json(pc, &b->sa[i]));
    return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o}", "flow", b->flow, "impu", b->impu, "impi",
                     b->impi, "contact", b->contact, "expires", (json_int_t)(b->expires_at - now),
                     "registered_at", (json_int_t)b->registered_at, "sa", sets);
}

typedef struct list {
    const char *impu;
    const pc_binding_t **items;
    size_t n, cap;
} list_t;

static int collect(void *ctx, const char *key, void *val)
{
    list_t *l = ctx;
    const pc_binding_t *b = val;
    if (b->expires_at <= time(NULL) || (l->impu && !pcscf_binding_has_identity(b, l->impu)))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        const pc_binding_t **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return 0;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = b;
    return 0;
}

/* Sorted by flow, so offset/limit pages are stable. */
static int by_flow(const void *a, const void *b)
{
    return strcmp((*(const pc_binding_t *const *)a)->flow, (*(const pc_binding_t *const *)b)->flow);
}

typedef struct op {
    pcscf_t *pc;
    const char *impu;
    size_t offset, limit;
    json_t *out;
} op_t;

static void list_on_loop(void *arg)
{
    op_t *o = arg;
    list_t l = {.impu = o->impu && *o->impu ? o->impu : NULL};
    strmap_sweep(o->pc->by_flow, collect, &l);
    if (l.n)
        qsort(l.items, l.n, sizeof *l.items, by_flow);
    json_t *arr = json_array();
    int64_t now = time(NULL);
    for (size_t i = o->offset; i < l.n && i - o->offset < o->limit; i++)
        json_array_append_new(arr, pcscf_binding_rest_json(o->pc, l.items[i], now));
    free(l.items);
    o->out = json_pack("{s:I,s:I,s:o}", "total", (json_int_t)l.n, "offset", (json_int_t)o->offset,
                       "bindings", arr);
}

/* GET /api/v1/bindings[?impu=&offset=&limit=] */
static void list_route(void *ctx, const api_request_t *req, api_response_t *resp)
{
    op_t o = {.pc = ctx, .impu = api_query(req, "impu")};
    o.offset = api_query_size(req, "offset", 0, (size_t)-1);
    o.limit = api_query_size(req, "limit", 100, 1000);
    if (loopq_call(o.pc->p->queue, list_on_loop, &o, 1000) < 0 || !o.out) {
        json_decref(o.out);
        api_problem(resp, 503, "Service Unavailable", "the loop did not answer within 1 s");
        return;
    }
    api_json(resp, 200, o.out);
}

int pcscf_bindings_routes(pcscf_t *pc)
{
    return api_route(pc->p->api, "GET", "/api/v1/bindings", 0, list_route, pc);
}

/* ---- ipsec_sa_sets{state,alg,ealg} ---- */

#define N_STATES 4 /* pc_sa_state_t */
#define N_ALGS   2 /* ipsec_alg_t */
#define N_EALGS  3 /* ipsec_ealg_t */

static int count_sets(void *ctx, const char *key, void *val)
{
    unsigned(*n)[N_ALGS][N_EALGS] = ctx;
    const pc_binding_t *b = val;
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++) {
        const pc_sa_t *sa = &b->sa[i];
        unsigned st = sa->state, a = sa->set.keys.alg, e = sa->set.keys.ealg;
        if (st != PC_SA_NONE && st < N_STATES && a < N_ALGS && e < N_EALGS)
            n[st][a][e]++;
    }
    return 0;
}

void pcscf_sa_publish(pcscf_t *pc)
{
    unsigned n[N_STATES][N_ALGS][N_EALGS] = {{{0}}};
    if (!pc->state)
        return;
    strmap_sweep(pc->by_flow, count_sets, n);
    /* Every combination, zeros included, so a series that empties reads 0, not its last count. */
    for (unsigned st = PC_SA_NONE + 1; st < N_STATES; st++)
        for (unsigned a = 0; a < N_ALGS; a++)
            for (unsigned e = 0; e < N_EALGS; e++) {
                const char *labels[] = {pcscf_sa_state_name((pc_sa_state_t)st),
                                        ipsec_alg_name((ipsec_alg_t)a),
                                        ipsec_ealg_name((ipsec_ealg_t)e)};
                metric_setv(pc->state->m_sets, labels, n[st][a][e]);
            }
}
