#include "cscf/scscf/routing/unreg.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util/log.h"
#include "common/util/strmap.h"
#include "cscf/scscf/core/context.h"
#include "diameter/cx_client.h"

typedef struct entry {
    char *impi, *impu, *profile;
    time_t expires;
} entry_t;

struct unreg {
    scscf_t *s;
    strmap_t *by_impu;
    metric_t *m_sar;
};

typedef struct pending {
    unreg_t *u;
    unreg_f cb;
    void *arg;
    char *impu;
} pending_t;

static void entry_free(void *v)
{
    entry_t *e = v;
    if (!e)
        return;
    free(e->impi);
    free(e->impu);
    free(e->profile);
    free(e);
}

unreg_t *unreg_new(scscf_t *s)
{
    unreg_t *u = calloc(1, sizeof *u);
    if (!u || !(u->by_impu = strmap_new())) {
        free(u);
        return NULL;
    }
    u->s = s;
    u->m_sar = metrics_counter(s->p->metrics, "cscf_unregistered_profiles_total",
                               "SAR UNREGISTERED_USER for a terminating request to a user "
                               "registered nowhere, by outcome",
                               "outcome");
    return u;
}

void unreg_free(unreg_t *u)
{
    if (!u)
        return;
    strmap_free(u->by_impu, entry_free);
    free(u);
}

size_t unreg_size(const unreg_t *u)
{
    return strmap_size(u->by_impu);
}

static int expired(void *ctx, const char *key, void *val)
{
    entry_t *e = val;
    if (e->expires > *(time_t *)ctx)
        return 0;
    entry_free(e);
    return 1;
}

typedef struct by_impi {
    const char *impi;
    int n;
} by_impi_t;

static int same_impi(void *ctx, const char *key, void *val)
{
    by_impi_t *b = ctx;
    entry_t *e = val;
    if (strcmp(e->impi, b->impi) != 0)
        return 0;
    entry_free(e);
    b->n++;
    return 1;
}

int unreg_forget_impi(unreg_t *u, const char *impi)
{
    by_impi_t b = {impi, 0};
    strmap_sweep(u->by_impu, same_impi, &b);
    return b.n > 0;
}

static void answer(unreg_f cb, void *arg, const entry_t *e)
{
    char *impus[1] = {e->impu};
    store_reg_t reg;
    memset(&reg, 0, sizeof reg);
    reg.impi = e->impi;
    reg.impus = impus;
    reg.nimpus = 1;
    reg.profile = e->profile;
    cb(arg, 200, &reg);
}

static entry_t *keep(unreg_t *u, const char *impu, const cx_msg_t *a)
{
    time_t now = time(NULL);
    if (strmap_size(u->by_impu) >= UNREG_MAX_USERS)
        strmap_sweep(u->by_impu, expired, &now);
    entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->impi = strdup(a->user_name);
    e->impu = strdup(impu);
    e->profile = strdup(a->user_data);
    e->expires = now + UNREG_PROFILE_SECONDS;
    void *old = NULL;
    if (!e->impi || !e->impu || !e->profile || strmap_size(u->by_impu) >= UNREG_MAX_USERS ||
        strmap_put(u->by_impu, impu, e, &old) < 0) {
        entry_free(e);
        return NULL;
    }
    entry_free(old);
    return e;
}

static void on_saa(void *arg, cx_status_t st, const cx_msg_t *a)
{
    pending_t *p = arg;
    unreg_t *u = p->u;
    int ok =
        st == CX_ANSWERED && a->result_code == DIAMETER_SUCCESS && a->user_name && a->user_data;
    int unknown = st == CX_ANSWERED && a->experimental_result == DIAMETER_ERROR_USER_UNKNOWN;
    metric_inc(u->m_sar, ok ? "success" : unknown ? "user_unknown" : "failure");
    entry_t *e = ok ? keep(u, p->impu, a) : NULL;
    if (!ok)
        log_info("scscf: SAR UNREGISTERED_USER for %s: %s", p->impu,
                 a ? cx_result_name(a->result_code, a->experimental_result) : "no answer");
    if (e)
        answer(p->cb, p->arg, e);
    else if (ok) { /* could not keep it (memory, bound): serve this request all the same */
        entry_t tmp = {a->user_name, p->impu, a->user_data, 0};
        answer(p->cb, p->arg, &tmp);
    } else
        p->cb(p->arg, unknown ? 404 : 480, NULL);
    free(p->impu);
    free(p);
}

void unreg_get(unreg_t *u, const char *impu, unreg_f cb, void *arg)
{
    entry_t *e = strmap_get(u->by_impu, impu);
    if (e && e->expires > time(NULL)) {
        answer(cb, arg, e);
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p || !(p->impu = strdup(impu))) {
        free(p);
        cb(arg, 480, NULL);
        return;
    }
    *p = (pending_t){u, cb, arg, p->impu};
    cx_msg_t m;
    cx_msg_init(&m, CX_CMD_SAR);
    cx_msg_add_public(&m, impu);
    cx_msg_set(&m.server_name, u->s->server_name);
    m.server_assignment_type = CX_SAT_UNREGISTERED_USER;
    m.user_data_already_available = 0;
    uint64_t id = cx_client_send(u->s->cx.client, &m, on_saa, p);
    cx_msg_clear(&m);
    if (!id) {
        metric_inc(u->m_sar, "failure");
        free(p->impu);
        free(p);
        cb(arg, 480, NULL);
    }
}
