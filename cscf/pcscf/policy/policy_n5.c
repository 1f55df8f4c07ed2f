/* See policy_n5.h. One n5_sess_t per policy session: the PCF's appSessionId once the create
 * answered, the notification token that names it in our notifUri, and at most one request in
 * flight (a create, an update or the delete). What comes while one is in flight waits for it:
 * the latest description (sent next, as a PATCH, or as a create when the first one failed) or
 * the release (the delete follows the create's 201, so no app session is left at the PCF).
 * A released session leaves the generic part at once (release() detaches it) and lives here
 * until its delete is answered. TS 29.514 4.2.2 (create), 4.2.3 (update), 4.2.4 (delete),
 * 4.2.5.3/4.2.5.2 (termination / event notifications). */
#include "cscf/pcscf/policy/policy_n5.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <jansson.h>

#include "common/util/log.h"
#include "common/util/strmap.h"
#include "cscf/pcscf/policy/h2_client.h"
#include "cscf/pcscf/policy/h2_server.h"
#include "cscf/pcscf/policy/n5_json.h"

#define API         "/npcf-policyauthorization/v1/app-sessions"
#define NOTIFY_PATH "/n5-notify/v1/sessions/" /* ours: {notifUri} = base + this + token */

typedef enum { OP_NONE, OP_CREATE, OP_UPDATE, OP_DELETE } n5_op_t;

typedef struct n5 {
    program_t *p;
    policy_t *pol;
    h2c_t *h2;
    h2s_t *srv;
    char prefix[128];      /* the apiRoot's path prefix */
    char notify_base[160]; /* "http://127.0.0.1:7778" */
    const char *af_app_id, *supp_feat;
    strmap_t *by_token; /* every n5_sess_t, released ones with their delete in flight too */
} n5_t;

typedef struct n5_sess {
    n5_t *n5;
    uint64_t sid; /* policy_session_id(); 0 once released */
    char token[40];
    char id[128];      /* appSessionId; "" until a create succeeded */
    char call_id[128]; /* for the log lines */
    h2c_req_t *req;
    n5_op_t op;
    int update_due, delete_due;
    policy_desc_t next; /* the description update_due sends */
} n5_sess_t;

static const char *op_name(n5_op_t op)
{
    return op == OP_CREATE ? "create" : op == OP_UPDATE ? "update" : "delete";
}

static void sess_free(n5_sess_t *x)
{
    strmap_take(x->n5->by_token, x->token);
    if (x->req)
        h2c_cancel(x->req);
    free(x);
}

static void on_answer(void *arg, const h2c_response_t *r);

static int send_json(n5_sess_t *x, n5_op_t op, const char *method, const char *path,
                     const char *ctype, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !text)
        return -1;
    x->req =
        h2c_request(x->n5->h2, method, path, ctype, text, text ? strlen(text) : 0, on_answer, x);
    free(text);
    if (!x->req)
        return -1;
    x->op = op;
    log_write(LOG_DEBUG, x->call_id, "policy: n5 %s %s", method, path);
    return 0;
}

static n5_opts_t opts_of(const n5_sess_t *x, char *notif, size_t len)
{
    snprintf(notif, len, "%s" NOTIFY_PATH "%s", x->n5->notify_base, x->token);
    return (n5_opts_t){x->n5->af_app_id, x->n5->supp_feat, notif};
}

/* A create (no app session yet) or an update of d. */
static int send_desc(n5_sess_t *x, const policy_desc_t *d)
{
    char notif[256], path[320];
    n5_opts_t o = opts_of(x, notif, sizeof notif);
    if (!*x->id) {
        snprintf(path, sizeof path, "%s" API, x->n5->prefix);
        return send_json(x, OP_CREATE, "POST", path, "application/json",
                         n5_app_session_context(d, &o));
    }
    snprintf(path, sizeof path, "%s" API "/%s", x->n5->prefix, x->id);
    return send_json(x, OP_UPDATE, "PATCH", path, "application/merge-patch+json",
                     n5_update_patch(d, &o));
}

static int send_delete(n5_sess_t *x)
{
    char path[320];
    snprintf(path, sizeof path, "%s" API "/%s/delete", x->n5->prefix, x->id);
    return send_json(x, OP_DELETE, "POST", path, NULL, NULL);
}

/* A released session: its app session goes, then the session. */
static void finish_released(n5_sess_t *x)
{
    if (!*x->id || send_delete(x) < 0)
        sess_free(x);
}

static const char *result_of(const h2c_response_t *r, n5_op_t op)
{
    if (r->error)
        return strcmp(r->error, "timeout") == 0 ? "timeout" : "error";
    int want = op == OP_CREATE ? r->status == 201 : r->status == 200 || r->status == 204;
    return want ? "ok" : "refused";
}

static void on_answer(void *arg, const h2c_response_t *r)
{
    n5_sess_t *x = arg;
    n5_t *n5 = x->n5;
    n5_op_t op = x->op;
    x->req = NULL;
    x->op = OP_NONE;
    const char *result = result_of(r, op);
    int ok = strcmp(result, "ok") == 0;
    if (op == OP_CREATE && ok && n5_app_session_id(r->location, x->id, sizeof x->id) < 0) {
        log_write(LOG_WARNING, x->call_id, "policy: n5 create: 201 without a usable Location");
        ok = 0;
    }
    if (op == OP_UPDATE && r->status == 404)
        x->id[0] = '\0'; /* the PCF has it no more: the next description creates it anew */
    log_write(ok ? LOG_INFO : LOG_WARNING, x->call_id, "policy: n5 %s: %s (%d%s%s)%s%s",
              op_name(op), result, r->status, r->error ? ", " : "", r->error ? r->error : "",
              *x->id ? " app session " : "", x->id);
    if (op == OP_DELETE) {
        policy_count_request(n5->pol, "delete", result);
        sess_free(x);
        return;
    }
    if (x->delete_due) { /* released while this was in flight */
        finish_released(x);
        return;
    }
    policy_session_t *s = policy_session_by_id(n5->pol, x->sid);
    if (!s) { /* cannot happen: release() marks delete_due; no session, nothing owed */
        finish_released(x);
        return;
    }
    if (x->update_due) {
        /* The generic part waits for the answer to its last open/update only (policy.h): the
         * queued one's is that answer, not this one's. */
        x->update_due = 0;
        if (send_desc(x, &x->next) == 0)
            return;
        log_write(LOG_WARNING, x->call_id, "policy: n5: cannot send the update");
        ok = 0;
    }
    policy_done(s, ok); /* last: it may release s (and x) at once */
}

static n5_sess_t *sess_new(n5_t *n5, policy_session_t *s, const policy_desc_t *d)
{
    n5_sess_t *x = calloc(1, sizeof *x);
    uint64_t rnd[2];
    if (!x || getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        free(x);
        return NULL;
    }
    /* Unguessable: whoever reaches the notification listener must not end others' calls. */
    snprintf(x->token, sizeof x->token, "%016" PRIx64 "%016" PRIx64, rnd[0], rnd[1]);
    x->n5 = n5;
    x->sid = policy_session_id(s);
    snprintf(x->call_id, sizeof x->call_id, "%s", d->call_id);
    if (strmap_put(n5->by_token, x->token, x, NULL) < 0) {
        free(x);
        return NULL;
    }
    policy_session_set_data(s, x);
    return x;
}

static int n5_update(void *be, policy_session_t *s, const policy_desc_t *d)
{
    n5_t *n5 = be;
    n5_sess_t *x = policy_session_data(s);
    if (!x && !(x = sess_new(n5, s, d)))
        return -1;
    if (x->req) { /* after the one in flight, with what is newest then */
        x->next = *d;
        x->update_due = 1;
        return 0;
    }
    return send_desc(x, d);
}

static int n5_open(void *be, policy_session_t *s, const policy_desc_t *d)
{
    return n5_update(be, s, d);
}

static void n5_release(void *be, policy_session_t *s)
{
    (void)be;
    n5_sess_t *x = policy_session_data(s);
    if (!x)
        return;
    policy_session_set_data(s, NULL);
    x->sid = 0;
    x->update_due = 0;
    if (x->req && x->op != OP_DELETE) {
        x->delete_due = 1; /* the create's 201 gives the id to delete */
        return;
    }
    finish_released(x);
}

/* --- the notification URI (h2_server.c) --- */

static int on_notify(void *arg, const char *method, const char *path, const char *body, size_t len,
                     char *location, size_t loclen)
{
    (void)location;
    (void)loclen;
    n5_t *n5 = arg;
    static const char pre[] = NOTIFY_PATH;
    if (strncmp(path, pre, sizeof pre - 1) != 0)
        return 404;
    const char *tok = path + sizeof pre - 1;
    size_t n = strcspn(tok, "/");
    char token[40];
    if (n == 0 || n >= sizeof token || tok[n] != '/')
        return 404;
    memcpy(token, tok, n);
    token[n] = '\0';
    const char *what = tok + n + 1;
    int terminate = strcmp(what, "terminate") == 0;
    if (!terminate && strcmp(what, "notify") != 0)
        return 404;
    if (strcmp(method, "POST") != 0)
        return 405;
    n5_sess_t *x = strmap_get(n5->by_token, token);
    if (!x)
        return 404;
    json_error_t jerr;
    json_t *j = len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (len && !j)
        return 400;
    /* TerminationInfo (5.6.2.10) termCause / EventsNotification (5.6.2.5) evNotifs. */
    const char *cause = json_string_value(json_object_get(j, "termCause"));
    log_write(LOG_INFO, x->call_id, "policy: n5 %s notification%s%s",
              terminate ? "terminate" : "event", cause ? ", termCause " : "", cause ? cause : "");
    json_decref(j);
    policy_count_notification(n5->pol, terminate ? "terminate" : "event");
    policy_session_t *s = terminate && x->sid ? policy_session_by_id(n5->pol, x->sid) : NULL;
    if (s)
        policy_session_lost(s); /* ends the call; release() and our delete follow (4.2.5.3) */
    return 204;
}

/* --- construction --- */

int policy_n5_check(const cfg_t *cfg, char *err, size_t errlen)
{
    char host[64], prefix[128];
    unsigned port;
    const char *uri = cfg_str(cfg, "policy.n5.pcf_uri");
    if (n5_parse_uri(uri, host, sizeof host, &port, prefix, sizeof prefix) < 0) {
        snprintf(err, errlen,
                 "policy.n5.pcf_uri: \"%s\" is not http://ADDRESS:PORT[/prefix] (https is not "
                 "supported)",
                 uri ? uri : "");
        return -1;
    }
    const char *nu = cfg_str(cfg, "policy.n5.notify_uri");
    if (nu && *nu && n5_parse_uri(nu, host, sizeof host, &port, prefix, sizeof prefix) < 0) {
        snprintf(err, errlen, "policy.n5.notify_uri: \"%s\" is not http://HOST:PORT", nu);
        return -1;
    }
    return 0;
}

static void n5_free(void *be)
{
    n5_t *n5 = be;
    if (!n5)
        return;
    /* Sessions still here wait for a delete's answer: it is not waited for at shutdown. */
    strmap_free(n5->by_token, free);
    h2c_free(n5->h2);
    h2s_free(n5->srv);
    free(n5);
}

int policy_n5_new(program_t *p, policy_t *pol, policy_backend_t *out, char *err, size_t errlen)
{
    char host[64], lhost[64];
    unsigned port;
    int lport;
    n5_t *n5 = calloc(1, sizeof *n5);
    if (!n5 || !(n5->by_token = strmap_new())) {
        free(n5);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n5->p = p;
    n5->pol = pol;
    n5->af_app_id = cfg_str(p->cfg, "policy.n5.af_app_id");
    n5->supp_feat = cfg_str(p->cfg, "policy.n5.supp_feat");
    const char *uri = cfg_str(p->cfg, "policy.n5.pcf_uri");
    const char *listen = cfg_str(p->cfg, "policy.n5.notify_listen");
    if (policy_n5_check(p->cfg, err, errlen) < 0 ||
        n5_parse_uri(uri, host, sizeof host, &port, n5->prefix, sizeof n5->prefix) < 0) {
        n5_free(n5);
        return -1;
    }
    if (!(n5->h2 = h2c_new(p->root, host, port, (unsigned)policy_timeout_ms(pol)))) {
        snprintf(err, errlen, "policy.n5.pcf_uri: %s: not a numeric address", uri);
        n5_free(n5);
        return -1;
    }
    if (cfg_split_addr(listen, lhost, sizeof lhost, &lport) < 0 ||
        !(n5->srv = h2s_new(p->root, lhost, (unsigned)lport, on_notify, n5, err, errlen))) {
        if (!n5->srv && !*err)
            snprintf(err, errlen, "policy.n5.notify_listen: %s", listen);
        n5_free(n5);
        return -1;
    }
    const char *nu = cfg_str(p->cfg, "policy.n5.notify_uri");
    if (nu && *nu)
        snprintf(n5->notify_base, sizeof n5->notify_base, "%.*s", (int)strcspn(nu, "?#"), nu);
    else
        snprintf(n5->notify_base, sizeof n5->notify_base,
                 strchr(lhost, ':') ? "http://[%s]:%u" : "http://%s:%u", lhost, h2s_port(n5->srv));
    size_t bl = strlen(n5->notify_base);
    while (bl && n5->notify_base[bl - 1] == '/')
        n5->notify_base[--bl] = '\0';
    log_info("policy: n5: PCF %s, notifications on %s:%u (%s" NOTIFY_PATH "...)", uri, lhost,
             h2s_port(n5->srv), n5->notify_base);
    *out = (policy_backend_t){.name = "n5",
                              .open = n5_open,
                              .update = n5_update,
                              .release = n5_release,
                              .free = n5_free,
                              .be = n5};
    return 0;
}
