/* The N5 back end (cscf/pcscf/policy/policy_n5.c) against a small PCF on the same loop (an
 * h2_server answering as TS 29.514 says: 201 + Location, 200, 204), with the generic part
 * replaced by this file (the policy_* calls the back end makes are defined here, so
 * libpcscf's policy.o is not linked): create -> update -> delete; a release while the create
 * is in flight deletes after the 201 and answers nothing; an update while a request is in
 * flight follows it and only its answer is given; a PCF answering 500 (done not ok, the next
 * description creates anew); a PCF that is not there; the termination notification (204, the
 * session lost, counted) and the notification URI's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>
#include <sofia-sip/su_wait.h>

#include "cscf/pcscf/policy/h2_client.h"
#include "cscf/pcscf/policy/h2_server.h"
#include "cscf/pcscf/policy/n5_json.h"
#include "cscf/pcscf/policy/policy_n5.h"

/* ---- the generic part, as the back end sees it ---- */

struct policy_session {
    uint64_t id;
    void *data;
    int dones, last_ok, lost;
    int first_done_updates; /* the PATCHes the PCF had seen at the first answer */
};

struct policy {
    policy_session_t s[4];
    int notifications_terminate, notifications_event;
    char last_request[64];
};

static struct policy pol_;

static int *pcf_updates; /* the PCF's count of PATCHes (pcf_t.updates) */

void policy_done(policy_session_t *s, int ok)
{
    if (!s->dones++)
        s->first_done_updates = pcf_updates ? *pcf_updates : -1;
    s->last_ok = ok;
}

void policy_session_lost(policy_session_t *s)
{
    s->lost++;
}

void policy_count_notification(policy_t *pol, const char *kind)
{
    if (strcmp(kind, "terminate") == 0)
        pol->notifications_terminate++;
    else
        pol->notifications_event++;
}

void policy_count_request(policy_t *pol, const char *op, const char *result)
{
    snprintf(pol->last_request, sizeof pol->last_request, "%s %s", op, result);
}

uint64_t policy_session_id(const policy_session_t *s)
{
    return s->id;
}

policy_session_t *policy_session_by_id(policy_t *pol, uint64_t id)
{
    for (size_t i = 0; i < 4; i++)
        if (id && pol->s[i].id == id)
            return &pol->s[i];
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

int policy_timeout_ms(const policy_t *pol)
{
    (void)pol;
    return 1000;
}

/* ---- a PCF ---- */

typedef struct pcf {
    int creates, updates, deletes, other;
    int fail; /* answer 500 */
    char last_body[4096], last_path[256];
    int next_id;
} pcf_t;

static int pcf_handler(void *arg, const char *method, const char *path, const char *body,
                       size_t len, char *location, size_t loclen)
{
    pcf_t *p = arg;
    static const char api[] = "/npcf-policyauthorization/v1/app-sessions";
    snprintf(p->last_body, sizeof p->last_body, "%.*s", (int)len, body);
    snprintf(p->last_path, sizeof p->last_path, "%s", path);
    if (p->fail)
        return 500;
    if (strcmp(method, "POST") == 0 && strcmp(path, api) == 0) {
        p->creates++;
        snprintf(location, loclen, "http://127.0.0.1%s/as%d", api, ++p->next_id);
        return 201;
    }
    if (strncmp(path, api, sizeof api - 1) == 0 && strcmp(method, "PATCH") == 0) {
        p->updates++;
        return 200;
    }
    size_t n = strlen(path);
    if (strcmp(method, "POST") == 0 && n > 7 && strcmp(path + n - 7, "/delete") == 0) {
        p->deletes++;
        return 204;
    }
    p->other++;
    return 404;
}

typedef struct fx {
    su_root_t *root;
    h2s_t *pcf_srv;
    pcf_t pcf;
    cfg_t *cfg;
    program_t prog;
    policy_backend_t be;
    unsigned notify_port;
} fx_t;

static const cfg_key_t keys[] = {POLICY_N5_KEY_ROWS, CFG_END};

/* A TCP port nobody listens on now (bound once by the kernel's choice, then closed). */
static unsigned free_tcp_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    bind(s, (struct sockaddr *)&sin, sizeof sin);
    getsockname(s, (struct sockaddr *)&sin, &len);
    close(s);
    return ntohs(sin.sin_port);
}

static int start(fx_t *f, unsigned pcf_port)
{
    const cfg_key_t *const tables[] = {keys, NULL};
    f->cfg = cfg_new("PCSCF", tables);
    char yaml[256], err[200] = "";
    snprintf(yaml, sizeof yaml,
             "policy:\n  n5:\n    pcf_uri: http://127.0.0.1:%u\n    notify_listen: "
             "127.0.0.1:%u\n",
             pcf_port, free_tcp_port());
    if (cfg_load_string(f->cfg, "test", yaml, err, sizeof err) < 0)
        fail_msg("%s", err);
    f->prog.cfg = f->cfg;
    f->prog.root = f->root;
    if (policy_n5_new(&f->prog, &pol_, &f->be, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_string_equal(f->be.name, "n5");
    return 0;
}

static int setup(void **state)
{
    su_init();
    fx_t *f = calloc(1, sizeof *f);
    f->root = su_root_create(NULL);
    char err[128];
    f->pcf_srv = h2s_new(f->root, "127.0.0.1", 0, pcf_handler, &f->pcf, err, sizeof err);
    assert_non_null(f->pcf_srv);
    memset(&pol_, 0, sizeof pol_);
    pcf_updates = &f->pcf.updates;
    for (int i = 0; i < 4; i++)
        pol_.s[i].id = (uint64_t)i + 1;
    start(f, h2s_port(f->pcf_srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    f->be.free(f->be.be);
    h2s_free(f->pcf_srv);
    cfg_free(f->cfg);
    su_root_destroy(f->root);
    free(f);
    su_deinit();
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Steps the loop until cond holds or 5 s pass (by the clock: a step may return early). */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        for (int64_t end_ = now_ms() + 5000; !(cond) && now_ms() < end_;)                          \
            su_root_step((f)->root, 10);                                                           \
    } while (0)

static policy_desc_t desc(int answered)
{
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.call_id, sizeof d.call_id, "call-1");
    snprintf(d.ue_ip, sizeof d.ue_ip, "192.0.2.10");
    snprintf(d.icid, sizeof d.icid, "icid-9");
    d.answered = answered;
    d.n_media = 1;
    d.media[0].number = 1;
    snprintf(d.media[0].type, sizeof d.media[0].type, "audio");
    snprintf(d.media[0].ue_addr, sizeof d.media[0].ue_addr, "192.0.2.10");
    d.media[0].ue_port = 40000;
    if (answered) {
        snprintf(d.media[0].peer_addr, sizeof d.media[0].peer_addr, "198.51.100.7");
        d.media[0].peer_port = 50000;
    }
    snprintf(d.media[0].dir, sizeof d.media[0].dir, "sendrecv");
    return d;
}

static void create_update_delete(void **state)
{
    fx_t *f = *state;
    policy_session_t *s = &pol_.s[0];
    policy_desc_t d = desc(0);
    assert_int_equal(f->be.open(f->be.be, s, &d), 0);
    assert_int_equal(s->dones, 0); /* later, on the loop */
    RUN_UNTIL(f, s->dones == 1);
    assert_int_equal(s->dones, 1);
    assert_int_equal(s->last_ok, 1);
    assert_int_equal(f->pcf.creates, 1);
    assert_non_null(strstr(f->pcf.last_body, "\"ueIpv4\":\"192.0.2.10\""));
    assert_non_null(strstr(f->pcf.last_body, "\"servInfStatus\":\"PRELIMINARY\""));
    d = desc(1);
    assert_int_equal(f->be.update(f->be.be, s, &d), 0);
    RUN_UNTIL(f, s->dones == 2);
    assert_int_equal(s->last_ok, 1);
    assert_int_equal(f->pcf.updates, 1);
    assert_string_equal(f->pcf.last_path, "/npcf-policyauthorization/v1/app-sessions/as1");
    assert_non_null(
        strstr(f->pcf.last_body, "permit out 17 from 198.51.100.7 50000 to 192.0.2.10 40000"));
    f->be.release(f->be.be, s);
    assert_null(s->data);
    RUN_UNTIL(f, f->pcf.deletes == 1);
    assert_string_equal(f->pcf.last_path, "/npcf-policyauthorization/v1/app-sessions/as1/delete");
    RUN_UNTIL(f, *pol_.last_request);
    assert_string_equal(pol_.last_request, "delete ok");
    assert_int_equal(s->dones, 2); /* nothing after the release */
}

static void release_during_create(void **state)
{
    fx_t *f = *state;
    policy_session_t *s = &pol_.s[1];
    policy_desc_t d = desc(0);
    assert_int_equal(f->be.open(f->be.be, s, &d), 0);
    f->be.release(f->be.be, s); /* before the 201 */
    s->id = 0;                  /* the generic part freed it */
    RUN_UNTIL(f, f->pcf.deletes == 1);
    assert_int_equal(f->pcf.creates, 1);
    assert_int_equal(f->pcf.deletes, 1); /* no app session left at the PCF */
    assert_int_equal(s->dones, 0);
}

static void update_while_in_flight(void **state)
{
    fx_t *f = *state;
    policy_session_t *s = &pol_.s[0];
    policy_desc_t d0 = desc(0), d1 = desc(1);
    assert_int_equal(f->be.open(f->be.be, s, &d0), 0);
    assert_int_equal(f->be.update(f->be.be, s, &d1), 0); /* waits for the 201 */
    RUN_UNTIL(f, s->dones >= 1);
    assert_int_equal(f->pcf.creates, 1);
    assert_int_equal(f->pcf.updates, 1);
    assert_non_null(strstr(f->pcf.last_body, "\"servInfStatus\":\"FINAL\""));
    /* One answer, the last description's: given after the PATCH, not after the 201. */
    assert_int_equal(s->first_done_updates, 1);
    assert_int_equal(s->dones, 1);
    assert_int_equal(s->last_ok, 1);
    f->be.release(f->be.be, s);
    RUN_UNTIL(f, f->pcf.deletes == 1);
    assert_int_equal(f->pcf.deletes, 1);
}

static void pcf_fails(void **state)
{
    fx_t *f = *state;
    policy_session_t *s = &pol_.s[0];
    policy_desc_t d = desc(0);
    f->pcf.fail = 1;
    assert_int_equal(f->be.open(f->be.be, s, &d), 0);
    RUN_UNTIL(f, s->dones == 1);
    assert_int_equal(s->last_ok, 0);
    f->pcf.fail = 0;
    d = desc(1);
    assert_int_equal(f->be.update(f->be.be, s, &d), 0);
    RUN_UNTIL(f, s->dones == 2);
    assert_int_equal(s->last_ok, 1);
    assert_int_equal(f->pcf.creates, 1); /* a create, as none exists yet */
    assert_int_equal(f->pcf.updates, 0);
    f->be.release(f->be.be, s);
    RUN_UNTIL(f, f->pcf.deletes == 1);
    assert_int_equal(f->pcf.deletes, 1);
}

static void pcf_not_there(void **state)
{
    fx_t *f = *state;
    unsigned port = h2s_port(f->pcf_srv);
    f->be.free(f->be.be);
    cfg_free(f->cfg);
    h2s_free(f->pcf_srv);
    f->pcf_srv = NULL;
    start(f, port); /* nobody listens there now */
    policy_session_t *s = &pol_.s[0];
    policy_desc_t d = desc(0);
    assert_int_equal(f->be.open(f->be.be, s, &d), 0);
    RUN_UNTIL(f, s->dones == 1);
    assert_int_equal(s->dones, 1);
    assert_int_equal(s->last_ok, 0);
    f->be.release(f->be.be, s); /* no app session: nothing to delete */
    assert_null(s->data);
}

typedef struct reply {
    int done, status;
} reply_t;

static void on_reply(void *arg, const h2c_response_t *r)
{
    reply_t *x = arg;
    x->done = 1;
    x->status = r->status;
}

/* method path (with body) to the back end's notification listener, host:port; the status. */
static int notify(fx_t *f, const char *host, unsigned port, const char *method, const char *path,
                  const char *body)
{
    h2c_t *c = h2c_new(f->root, host, port, 2000);
    reply_t x = {0};
    h2c_request(c, method, path, "application/json", body, strlen(body), on_reply, &x);
    RUN_UNTIL(f, x.done);
    h2c_free(c);
    return x.status;
}

static void termination_notification(void **state)
{
    fx_t *f = *state;
    policy_session_t *s = &pol_.s[2];
    policy_desc_t d = desc(1);
    assert_int_equal(f->be.open(f->be.be, s, &d), 0);
    RUN_UNTIL(f, s->dones == 1);
    char body[4096];
    snprintf(body, sizeof body, "%s", f->pcf.last_body);
    json_t *j = json_loads(body, 0, NULL);
    const char *uri =
        json_string_value(json_object_get(json_object_get(j, "ascReqData"), "notifUri"));
    char host[64], prefix[200], path[256];
    unsigned port;
    assert_int_equal(n5_parse_uri(uri, host, sizeof host, &port, prefix, sizeof prefix), 0);
    json_decref(j);
    assert_int_equal(notify(f, host, port, "POST", "/n5-notify/v1/sessions/00/terminate", "{}"),
                     404);
    snprintf(path, sizeof path, "%s/notify", prefix);
    assert_int_equal(notify(f, host, port, "GET", path, ""), 405);
    assert_int_equal(notify(f, host, port, "POST", path, "not json"), 400);
    assert_int_equal(notify(f, host, port, "POST", path, "{\"evNotifs\":[]}"), 204);
    assert_int_equal(pol_.notifications_event, 1);
    assert_int_equal(s->lost, 0);
    snprintf(path, sizeof path, "%s/terminate", prefix);
    assert_int_equal(notify(f, host, port, "POST", path,
                            "{\"termCause\":\"ALL_SDF_DEACTIVATION\",\"resUri\":\"x\"}"),
                     204);
    assert_int_equal(s->lost, 1);
    assert_int_equal(pol_.notifications_terminate, 1);
    f->be.release(f->be.be, s); /* what the generic part does next */
    RUN_UNTIL(f, f->pcf.deletes == 1);
    assert_int_equal(f->pcf.deletes, 1);
    /* The session is gone: its URI no longer answers. */
    assert_int_equal(notify(f, host, port, "POST", path, "{}"), 404);
}

static void checks_config(void **state)
{
    const cfg_key_t *const tables[] = {keys, NULL};
    cfg_t *cfg = cfg_new("PCSCF", tables);
    char err[200] = "";
    assert_int_equal(cfg_load_string(cfg, "t",
                                     "policy:\n  n5:\n    pcf_uri: https://10.0.0.1:7777\n", err,
                                     sizeof err),
                     0);
    assert_int_equal(policy_n5_check(cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "policy.n5.pcf_uri"));
    cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_update_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(release_during_create, setup, teardown),
        cmocka_unit_test_setup_teardown(update_while_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(pcf_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(pcf_not_there, setup, teardown),
        cmocka_unit_test_setup_teardown(termination_notification, setup, teardown),
        cmocka_unit_test(checks_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
