/* The generic part of the policy interface (policy.h): sessions by dialog and UE side, the
 * failure policy, metrics and REST. Skeleton: the back ends plug in through policy_backend_t. */
#include "cscf/pcscf/policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util/log.h"
#include "cscf/pcscf/policy/policy_n5.h"

struct policy {
    program_t *p;
    policy_backend_t be;
    int closed;
    int timeout_ms;
    size_t n;
};

struct policy_session {
    policy_t *pol;
    uint64_t id;
    void *data;
    policy_desc_t desc;
};

/* The back ends built into this program: policy.backend names one. */
static const struct {
    const char *name;
    policy_backend_new_f make;
} backends[] = {
    {"none", NULL},
    {"n5", policy_n5_new},
};

int policy_start(program_t *p, policy_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *name = cfg_str(p->cfg, "policy.backend");
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        if (strcmp(backends[i].name, name ? name : "none") != 0)
            continue;
        if (!backends[i].make)
            return 0;
        policy_t *pol = calloc(1, sizeof *pol);
        if (!pol)
            return -1;
        pol->p = p;
        pol->closed = strcmp(cfg_str(p->cfg, "policy.on_failure"), "closed") == 0;
        pol->timeout_ms = (int)cfg_int(p->cfg, "policy.timeout_ms");
        if (backends[i].make(p, pol, &pol->be, err, errlen) < 0) {
            free(pol);
            return -1;
        }
        *out = pol;
        return 0;
    }
    snprintf(err, errlen, "policy.backend: %s is not built into this pcscf", name);
    return -1;
}

void policy_stop(policy_t *pol)
{
    if (!pol)
        return;
    if (pol->be.free)
        pol->be.free(pol->be.be);
    free(pol);
}

void policy_done(policy_session_t *s, int ok)
{
    (void)s;
    (void)ok;
}

void policy_session_lost(policy_session_t *s)
{
    (void)s;
}

void policy_count_notification(policy_t *pol, const char *kind)
{
    (void)pol;
    (void)kind;
}

void policy_count_request(policy_t *pol, const char *op, const char *result)
{
    (void)pol;
    (void)op;
    (void)result;
}

uint64_t policy_session_id(const policy_session_t *s)
{
    return s->id;
}

policy_session_t *policy_session_by_id(policy_t *pol, uint64_t id)
{
    (void)pol;
    (void)id;
    return NULL;
}

void *policy_session_data(const policy_session_t *s)
{
    return s->data;
}

void policy_session_set_data(policy_session_t *s, void *data)
{
    s->data = data;
}

const policy_desc_t *policy_session_desc(const policy_session_t *s)
{
    return &s->desc;
}

program_t *policy_program(const policy_t *pol)
{
    return pol->p;
}

int policy_timeout_ms(const policy_t *pol)
{
    return pol->timeout_ms;
}

policy_verdict_t policy_request(policy_t *pol, const policy_leg_t *leg, msg_t *msg,
                                policy_cont_f cont, void *ctx)
{
    (void)pol;
    (void)leg;
    (void)msg;
    (void)cont;
    (void)ctx;
    return POLICY_GO;
}

void policy_response(policy_t *pol, const policy_leg_t *leg, msg_t *request, int status,
                     msg_t *response)
{
    (void)pol;
    (void)leg;
    (void)request;
    (void)status;
    (void)response;
}

void policy_ue_gone(policy_t *pol, const char *impu)
{
    (void)pol;
    (void)impu;
}

size_t policy_session_count(const policy_t *pol)
{
    return pol ? pol->n : 0;
}
