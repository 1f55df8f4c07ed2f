#include "common/sip/sip_trace.h"

#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "common/util/log.h"
#include "common/sip/sip_hdr.h"
#include "common/util/strmap.h"

struct sip_trace {
    strmap_t *users; /* aor -> time_t *expires */
};

sip_trace_t *sip_trace_new(void)
{
    sip_trace_t *t = calloc(1, sizeof *t);
    if (t && !(t->users = strmap_new())) {
        free(t);
        return NULL;
    }
    return t;
}

void sip_trace_free(sip_trace_t *t)
{
    if (!t)
        return;
    strmap_free(t->users, free);
    free(t);
}

static int drop_expired(void *ctx, const char *key, void *val)
{
    if (*(time_t *)val > *(time_t *)ctx)
        return 0;
    log_info("trace: %s ends", key);
    free(val);
    return 1;
}

int sip_trace_add(sip_trace_t *t, const char *uri, long seconds, time_t now)
{
    char aor[300];
    if (sip_uri_aor_str(uri, aor, sizeof aor) < 0)
        return -1;
    strmap_sweep(t->users, drop_expired, &now);
    time_t *exp = strmap_get(t->users, aor);
    if (!exp && strmap_size(t->users) >= SIP_TRACE_MAX_USERS)
        return -1;
    if (!exp && (!(exp = malloc(sizeof *exp)) || strmap_put(t->users, aor, exp, NULL) < 0)) {
        free(exp);
        return -1;
    }
    *exp = now + seconds;
    log_info("trace: %s for %ld s", aor, seconds);
    return 0;
}

int sip_trace_remove(sip_trace_t *t, const char *uri)
{
    char aor[300];
    if (sip_uri_aor_str(uri, aor, sizeof aor) < 0)
        return 0;
    time_t *exp = strmap_take(t->users, aor);
    free(exp);
    return exp != NULL;
}

typedef struct list_ctx {
    json_t *a;
    time_t now;
} list_ctx_t;

static int list_one(void *ctx, const char *key, void *val)
{
    list_ctx_t *l = ctx;
    json_array_append_new(l->a, json_pack("{s:s,s:I}", "impu", key, "expires_in",
                                          (json_int_t)(*(time_t *)val - l->now)));
    return 0;
}

json_t *sip_trace_json(sip_trace_t *t, time_t now)
{
    strmap_sweep(t->users, drop_expired, &now);
    list_ctx_t l = {json_array(), now};
    strmap_sweep(t->users, list_one, &l);
    return json_pack("{s:o}", "traces", l.a);
}

static const char *traced(sip_trace_t *t, const url_t *u, char *aor, size_t len, time_t now)
{
    if (!u || sip_uri_aor(u, aor, len) < 0)
        return NULL;
    time_t *exp = strmap_get(t->users, aor);
    return exp && *exp > now ? aor : NULL;
}

static const char *who(sip_trace_t *t, sip_t const *sip, char *aor, size_t len)
{
    time_t now = time(NULL);
    const char *pai = sip_hdr_get(sip, "P-Asserted-Identity");
    if (pai && sip_uri_aor_str(pai, aor, len) == 0) {
        time_t *exp = strmap_get(t->users, aor);
        if (exp && *exp > now)
            return aor;
    }
    const char *hit = sip->sip_from ? traced(t, sip->sip_from->a_url, aor, len, now) : NULL;
    if (!hit && sip->sip_to)
        hit = traced(t, sip->sip_to->a_url, aor, len, now);
    if (!hit && sip->sip_request)
        hit = traced(t, sip->sip_request->rq_url, aor, len, now);
    return hit;
}

void sip_trace_msg(sip_trace_t *t, msg_t *msg, const char *dir)
{
    if (!t || !msg || strmap_size(t->users) == 0)
        return;
    sip_t const *sip = sip_object(msg);
    char aor[300];
    const char *user = sip ? who(t, sip, aor, sizeof aor) : NULL;
    if (!user)
        return;
    size_t len = 0;
    char *text = msg_as_string(NULL, msg, NULL, 0, &len);
    log_write(LOG_INFO, sip->sip_call_id ? sip->sip_call_id->i_id : NULL, "trace %s: %s\n%s", user,
              dir, text ? text : "(cannot encode)");
    free(text);
}
