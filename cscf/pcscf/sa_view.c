/* What the P-CSCF shows of its SA sets, never keys: each binding's `sa` array in
 * GET /api/v1/registrations (algorithms, SPIs, ports, state, the datapath's counters; flows.c
 * builds the rest of the binding), and the ipsec_sa_sets gauge. Loop thread only. */
#include "cscf/pcscf/state.h"
#include "cscf/pcscf/state_internal.h"

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

json_t *pcscf_sa_sets_json(const pcscf_t *pc, const pc_binding_t *b)
{
    json_t *sets = json_array();
    for (size_t i = 0; i < sizeof b->sa / sizeof *b->sa; i++)
        if (b->sa[i].state != PC_SA_NONE)
            json_array_append_new(sets, sa_json(pc, &b->sa[i]));
    return sets;
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
