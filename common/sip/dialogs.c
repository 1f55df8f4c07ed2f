#include "common/sip/dialogs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/sip_header.h>

#include "common/ops/limits.h"
#include "common/util/strmap.h"

typedef struct dialog {
    char from[160], to[160], call_id[160];
    int64_t since;   /* the 2xx that made it */
    int64_t ack_by;  /* until its ACK passed: gone when none came by then; 0 once it did */
    int64_t seen;    /* the last 2xx in it (session refresh) */
    int64_t session; /* its Session-Expires (RFC 4028), seconds; 0: none */
} dialog_t;

struct dialogs {
    strmap_t *map;
    size_t max;
    int64_t max_age, ack_wait;
    metric_t *m_attempted, *m_answered, *m_failed, *m_active;
    cap_t *cap;
};

dialogs_t *dialogs_new(metrics_t *m, size_t max, int64_t max_age_s, int64_t ack_wait_s,
                       unsigned retry_after_s)
{
    dialogs_t *d = calloc(1, sizeof *d);
    if (!d || !(d->map = strmap_new()) ||
        !(d->cap = cap_new(m, "dialogs", "limits.dialogs", max, retry_after_s))) {
        if (d)
            strmap_free(d->map, free);
        free(d);
        return NULL;
    }
    d->max = max;
    d->max_age = max_age_s;
    d->ack_wait = ack_wait_s;
    d->m_attempted = metrics_counter(m, "cscf_calls_attempted_total",
                                     "initial INVITEs forwarded by this proxy", NULL);
    d->m_answered = metrics_counter(m, "cscf_calls_answered_total",
                                    "initial INVITEs answered 2xx (relayed upstream)", NULL);
    d->m_failed = metrics_counter(m, "cscf_calls_failed_total",
                                  "initial INVITEs that ended with a final error, by code", "code");
    d->m_active =
        metrics_gauge(m, "cscf_dialogs_active",
                      "INVITE dialogs established through this proxy and not ended", NULL);
    return d;
}

void dialogs_free(dialogs_t *d)
{
    if (!d)
        return;
    strmap_free(d->map, free);
    cap_free(d->cap);
    free(d);
}

/* Call-ID, From tag and To tag: the dialog id (RFC 3261 12). */
static int key_of(sip_t const *sip, char *out, size_t len)
{
    if (!sip->sip_call_id || !sip->sip_from || !sip->sip_to || !sip->sip_from->a_tag ||
        !sip->sip_to->a_tag)
        return -1;
    int w = snprintf(out, len, "%s;%s;%s", sip->sip_call_id->i_id, sip->sip_from->a_tag,
                     sip->sip_to->a_tag);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

static void update_gauge(dialogs_t *d)
{
    metric_set(d->m_active, NULL, (double)strmap_size(d->map));
    cap_update(d->cap, strmap_size(d->map));
}

int dialogs_admit(dialogs_t *d)
{
    return !d || cap_admit(d->cap, strmap_size(d->map));
}

const char *dialogs_retry_after(const dialogs_t *d)
{
    return cap_retry_after(d ? d->cap : NULL);
}

void dialogs_attempt(dialogs_t *d)
{
    if (d)
        metric_inc(d->m_attempted, NULL);
}

static void copy_uri(char *out, size_t len, const sip_addr_t *a)
{
    const url_t *u = a ? a->a_url : NULL;
    snprintf(out, len, "%s%s%s%s", u && u->url_scheme ? u->url_scheme : "", u ? ":" : "",
             u && u->url_user ? u->url_user : "", u && u->url_host ? "@" : "");
    size_t n = strlen(out);
    if (u && u->url_host)
        snprintf(out + n, len - n, "%s", u->url_host);
}

static int oldest(void *ctx, const char *key, void *val)
{
    dialog_t **o = ctx, *dl = val;
    if (!*o || dl->since < (*o)->since)
        *o = dl;
    return 0;
}

static int is_this(void *ctx, const char *key, void *val)
{
    if (val != ctx)
        return 0;
    free(val);
    return 1;
}

static void forget_oldest(dialogs_t *d)
{
    dialog_t *o = NULL;
    strmap_sweep(d->map, oldest, &o);
    if (o)
        strmap_sweep(d->map, is_this, o);
}

static int64_t session_of(sip_t const *response)
{
    return response->sip_session_expires ? (int64_t)response->sip_session_expires->x_delta : 0;
}

void dialogs_final(dialogs_t *d, int status, sip_t const *response)
{
    if (!d)
        return;
    if (status >= 300) {
        char code[8];
        snprintf(code, sizeof code, "%d", status <= 699 ? status : 0);
        metric_inc(d->m_failed, code);
        return;
    }
    metric_inc(d->m_answered, NULL);
    char key[500];
    if (!response || key_of(response, key, sizeof key) < 0 || strmap_get(d->map, key))
        return;
    if (strmap_size(d->map) >= d->max)
        forget_oldest(d);
    dialog_t *dl = calloc(1, sizeof *dl);
    if (!dl)
        return;
    copy_uri(dl->from, sizeof dl->from, response->sip_from);
    copy_uri(dl->to, sizeof dl->to, response->sip_to);
    snprintf(dl->call_id, sizeof dl->call_id, "%s", response->sip_call_id->i_id);
    dl->since = dl->seen = time(NULL);
    dl->ack_by = dl->since + d->ack_wait;
    dl->session = session_of(response);
    if (strmap_put(d->map, key, dl, NULL) < 0)
        free(dl);
    update_gauge(d);
}

void dialogs_bye(dialogs_t *d, int status, sip_t const *response)
{
    char key[500], rev[500];
    if (!d || status == 401 || status == 407 || !response || key_of(response, key, sizeof key) < 0)
        return;
    free(strmap_take(d->map, key));
    /* The callee may hang up: its BYE has the tags the other way round. */
    snprintf(rev, sizeof rev, "%s;%s;%s", response->sip_call_id->i_id, response->sip_to->a_tag,
             response->sip_from->a_tag);
    free(strmap_take(d->map, rev));
    update_gauge(d);
}

/* The dialog a message belongs to, sent by either end (the callee's re-INVITE has the tags the
 * other way round). */
static dialog_t *find(dialogs_t *d, sip_t const *sip)
{
    char key[500], rev[500];
    if (!d || !sip || key_of(sip, key, sizeof key) < 0)
        return NULL;
    dialog_t *dl = strmap_get(d->map, key);
    if (dl)
        return dl;
    snprintf(rev, sizeof rev, "%s;%s;%s", sip->sip_call_id->i_id, sip->sip_to->a_tag,
             sip->sip_from->a_tag);
    return strmap_get(d->map, rev);
}

void dialogs_ack(dialogs_t *d, sip_t const *ack)
{
    dialog_t *dl = find(d, ack);
    if (dl)
        dl->ack_by = 0;
}

void dialogs_refresh(dialogs_t *d, sip_t const *response)
{
    dialog_t *dl = find(d, response);
    if (!dl)
        return;
    dl->seen = time(NULL);
    dl->session = session_of(response);
}

typedef struct sweep_ctx {
    const dialogs_t *d;
    int64_t now;
} sweep_ctx_t;

/* A dialog nobody will end through us: its 2xx was never ACKed (the caller gave up or is gone;
 * RFC 3261 13.3.1.4 has the callee end it, with a BYE that may never come), its session timer
 * ran out without a refresh (RFC 4028 10: both ends consider it over; a refresh may take 64*T1),
 * or it is older than any call should be (a BYE lost). */
static int is_over(void *ctx, const char *key, void *val)
{
    sweep_ctx_t *s = ctx;
    dialog_t *dl = val;
    int over = (dl->ack_by && s->now >= dl->ack_by) ||
               (dl->session && s->now > dl->seen + dl->session + s->d->ack_wait) ||
               s->now - dl->since >= s->d->max_age;
    if (over)
        free(dl);
    return over;
}

void dialogs_sweep(dialogs_t *d, int64_t now)
{
    if (!d)
        return;
    sweep_ctx_t s = {d, now};
    strmap_sweep(d->map, is_over, &s);
    update_gauge(d);
}

size_t dialogs_count(const dialogs_t *d)
{
    return d ? strmap_size(d->map) : 0;
}

typedef struct json_ctx {
    json_t *arr;
    size_t limit;
    int64_t now;
} json_ctx_t;

static int add_json(void *ctx, const char *key, void *val)
{
    json_ctx_t *j = ctx;
    dialog_t *dl = val;
    if (json_array_size(j->arr) < j->limit)
        json_array_append_new(j->arr, json_pack("{s:s,s:s,s:s,s:I,s:b}", "call_id", dl->call_id,
                                                "from", dl->from, "to", dl->to, "age_seconds",
                                                (json_int_t)(j->now - dl->since), "acked",
                                                dl->ack_by == 0));
    return 0;
}

json_t *dialogs_json(const dialogs_t *d, size_t limit, int64_t now)
{
    json_ctx_t j = {json_array(), limit, now};
    if (d)
        strmap_sweep(d->map, add_json, &j);
    return json_pack("{s:I,s:o}", "active", (json_int_t)dialogs_count(d), "dialogs", j.arr);
}
