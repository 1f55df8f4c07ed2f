/* The hss program's one context struct (program_t.app). */
#ifndef CSCF_HSS_H
#define CSCF_HSS_H

#include "common/program/program.h"
#include "diameter/cx_node.h"
#include "diameter/hss/hss_db.h"

typedef struct hss {
    program_t *p;
    cx_node_t cx;
    hss_db_t db;
    int ind_bits;                   /* TS 33.102 Annex C: SQN = SEQ || IND */
    int max_vectors;                /* per MAA */
    int sipp_compat;                /* no zero byte in XRES (auth.sipp_compat) */
    const char *const *scscf_names; /* offered in Server-Capabilities (UAR/LIR) */
    size_t nscscf_names;
    const char *charging_ecf, *charging_ccf;
    metric_t *m_subscribers;
} hss_t;

/* hss_cx.c: MAR, SAR, UAR, LIR. */
extern const cx_node_handler_t hss_cx_handlers[];
extern const size_t hss_cx_nhandlers;

/* The SQN after `sqn` (Annex C: SEQ + 1, IND cycling), or sqn + 1 with ind_bits 0. */
uint64_t hss_next_sqn(uint64_t sqn, int ind_bits);

/* hss_rest.c: the subscriber resources. */
int hss_rest_routes(hss_t *h);

#endif
