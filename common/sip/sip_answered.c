/* Answered non-INVITE requests over UDP (sip_answered.h).
 *
 * nta decides how long a completed server transaction stays from one flag taken when it is
 * created, tport_is_reliable() of the transport the request came on: over a reliable one
 * Timer J is 0 and the transaction ends with its final response. nta offers no other way to
 * end one, so the programs define tport_is_reliable() themselves (libsofia-sip-ua calls it
 * through its PLT, and the executable's definition takes precedence, as for su_getmsgsize() in
 * sip_stream_read.c): it answers as sofia's does, except while sip_answered_incoming_create()
 * creates a transaction to end early. For a non-INVITE server transaction nta reads the flag
 * only there and at the final response; its response still goes out over the UDP socket the
 * request came on. The retransmissions it no longer absorbs come to sip_answered_absorb(). */
#include "common/sip/sip_answered.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/tport.h>

#include "common/util/clock.h"
#include "common/util/kept.h"
#include "common/util/log.h"

struct sip_answered {
    kept_table_t *kept; /* key -> the response as sent */
    uint64_t absorbed;
};

/* Set only around nta_incoming_create(), on the loop thread that runs nta. */
static int end_at_final;

int tport_is_reliable(tport_t const *self)
{
    static int (*sofia)(tport_t const *);
    if (end_at_final)
        return 1;
    if (!sofia)
        sofia = (int (*)(tport_t const *))dlsym(RTLD_NEXT, "tport_is_reliable");
    return sofia ? sofia(self) : 0;
}

/* RFC 3261 17.2.3: a request matches a server transaction by the top Via's branch and
 * sent-by and the method (a CANCEL or ACK never reaches here). Call-ID, CSeq and the From tag
 * are added, as nta's own matching does: a retransmission has the same ones, and two requests
 * that only share a branch (RFC 4475's cparam01/02 do) stay two requests. 0 when msg is not
 * one to keep: not over UDP, an INVITE (nta's own rules for those), or a branch without the
 * magic cookie. */
static int key_of(msg_t *msg, sip_t const *sip, char *out, size_t len)
{
    const su_addrinfo_t *ai = msg_addrinfo(msg);
    if (!ai || ai->ai_socktype != SOCK_DGRAM || !sip || !sip->sip_request || !sip->sip_cseq)
        return 0;
    sip_method_t m = sip->sip_request->rq_method;
    if (m == sip_method_invite || m == sip_method_ack || m == sip_method_cancel)
        return 0;
    const sip_via_t *v = sip->sip_via;
    if (!v || !v->v_branch || strncasecmp(v->v_branch, "z9hG4bK", 7) != 0 || !v->v_host ||
        !sip->sip_call_id || !sip->sip_from)
        return 0;
    const char *ftag = sip->sip_from->a_tag;
    int n = snprintf(out, len, "%s|%s|%s|%s|%s|%u|%s", v->v_branch, v->v_host,
                     v->v_port ? v->v_port : "", sip->sip_request->rq_method_name,
                     sip->sip_call_id->i_id, sip->sip_cseq->cs_seq, ftag ? ftag : "");
    return n > 0 && (size_t)n < len;
}

sip_answered_t *sip_answered_new(unsigned ttl_ms, size_t cap)
{
    sip_answered_t *a = calloc(1, sizeof *a);
    if (!a || !(a->kept = kept_new(ttl_ms, cap))) {
        free(a);
        return NULL;
    }
    return a;
}

void sip_answered_free(sip_answered_t *a)
{
    if (!a)
        return;
    kept_free(a->kept);
    free(a);
}

nta_incoming_t *sip_answered_incoming_create(nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
    char key[512];
    end_at_final = key_of(msg, sip, key, sizeof key);
    nta_incoming_t *irq = nta_incoming_create(agent, NULL, msg, sip, TAG_END());
    end_at_final = 0;
    return irq;
}

int sip_answered_absorb(sip_answered_t *a, nta_agent_t *agent, msg_t *msg, sip_t const *sip)
{
    char key[512];
    size_t len = 0;
    const char *bytes =
        a && key_of(msg, sip, key, sizeof key) ? kept_get(a->kept, key, &len) : NULL;
    if (!bytes)
        return 0;
    a->absorbed++;
    if (len == 0) { /* ended without an answer (RFC 4320: no 408): absorbed silently */
        msg_destroy(msg);
        return 1;
    }
    /* Parsed again only here: retransmissions are rare, and the table stays small. */
    msg_t *reply = msg_make(sip_default_mclass(), 0, bytes, (isize_t)len);
    sip_t *rs = sip_object(reply);
    if (!rs || !rs->sip_status) {
        msg_destroy(reply);
        msg_destroy(msg);
        return 1;
    }
    /* nta sends it as it would a stateless answer: by the kept response's Via (which carries
     * the received/rport of the original), from the socket the retransmission came on. */
    if (nta_msg_mreply(agent, reply, rs, rs->sip_status->st_status, rs->sip_status->st_phrase, msg,
                       TAG_END()) < 0)
        log_debug("sip: could not answer a retransmission again");
    else
        log_debug("sip: answered a retransmission of %s again", key);
    return 1;
}

/* The response as it went out (nta serialised it when sending), kept under key; none for a 408
 * to a non-INVITE, which nta ends the transaction with but never sends (RFC 4320 section 4.1). */
static void keep_bytes(sip_answered_t *a, msg_t *resp, const char *key)
{
    msg_iovec_t iov[64];
    const sip_t *sip = sip_object(resp);
    int sent = !sip || !sip->sip_status || sip->sip_status->st_status != 408;
    isize_t n = sent ? msg_iovec(resp, iov, 64) : 0;
    if (n < 0 || n > 64 || (sent && n == 0))
        return;
    size_t len = 0;
    for (isize_t i = 0; i < n; i++)
        len += iov[i].mv_len;
    /* A request answered twice keeps its first answer (kept_put() refuses the key). */
    char *out = kept_put(a->kept, key, len, clock_mono_ms());
    for (isize_t i = 0; out && i < n; i++) {
        memcpy(out, iov[i].mv_base, iov[i].mv_len);
        out += iov[i].mv_len;
    }
}

void sip_answered_keep(sip_answered_t *a, nta_incoming_t *irq)
{
    char key[512];
    msg_t *req = a && irq ? nta_incoming_getrequest(irq) : NULL;
    msg_t *resp =
        req && key_of(req, sip_object(req), key, sizeof key) ? nta_incoming_getresponse(irq) : NULL;
    if (resp)
        keep_bytes(a, resp, key);
    msg_destroy(resp);
    msg_destroy(req);
}

void sip_answered_expire(sip_answered_t *a, int64_t now_ms)
{
    if (a)
        kept_expire(a->kept, now_ms);
}

size_t sip_answered_count(const sip_answered_t *a)
{
    return a ? kept_count(a->kept) : 0;
}

uint64_t sip_answered_absorbed(const sip_answered_t *a)
{
    return a ? a->absorbed : 0;
}
