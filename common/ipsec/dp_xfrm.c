/* The kernel's IPsec as the P-CSCF's datapath: SAs and policies over NETLINK_XFRM (libmnl),
 * one request at a time, each answered by the kernel (an ACK or NLMSG_ERROR with the same
 * sequence number, or the NEWSA answer of ALLOCSPI / GETSA). dp_xfrm_plan.c decides what to
 * send; this file sends it, undoes it on failure and keeps the table of our sets.
 *
 * Our mark is {value 0, mask ipsec.xfrm_mark}, not {ipsec.xfrm_mark, 0xffffffff}. The kernel
 * reads an SA's or policy's mark as a packet filter, not only as a name: a policy applies to a
 * packet only when (skb mark & mask) == value, and an inbound ESP packet finds its SA only under
 * the same rule. Value 0 therefore matches the P-CSCF's unmarked packets (checked on this
 * kernel with policies: a {0x5ec0, 0xffffffff} inbound policy let a clear packet of its flow
 * through, a {0, 0x5ec0} one dropped it), while the pair (0, mask) still tells ours from
 * another IPsec user's on a dump (xfrm_msg_mark_is_ours compares value and mask). Packets whose
 * own mark has a bit of the mask set bypass our policies: pick a mask nobody else sets.
 *
 * Two sets of one UE with the same ports (a re-registration before the old set is removed)
 * share the kernel's policies (one per selector, direction and mark), and the policies name no
 * SPI, so the kernel chooses the outbound SA: of the valid SAs whose selector matches, the one
 * added most recently (xfrm_state_find). The newest installed set wins outbound; inbound, both
 * sets' SAs are accepted. This is not ipsec_dp.h's "the set that most recently carried a
 * packet": the kernel cannot be told. TS 33.203 7.4 has the UE pick new ports for a new set,
 * which gives each set its own policies and avoids the question. */
#include "common/ipsec/dp_xfrm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "common/ipsec/dp_xfrm_plan.h"
#include "common/ipsec/ipsec_dp_internal.h"
#include "common/ipsec/xfrm_msg.h"
#include "common/util/clock.h"
#include "common/util/log.h"

#define REPLAY_WINDOW 32
/* Lower wins: an operator's own policy at 0..999 (iproute2's default is 0) overrides ours;
 * strongSwan's (around 200000 and up) does not. */
#define POLICY_PRIORITY  1000
#define ANSWER_TIMEOUT_S 5     /* the kernel always answers; this only bounds a broken socket */
#define RX_BUF           32768 /* a dump's skb may be larger than a page */
#define MSG_BUF          1024  /* our largest request (NEWSA with 3DES keys) is under 400 bytes */

typedef enum set_state { SET_PENDING, SET_INSTALLED } set_state_t;

typedef struct xfrm_set {
    set_state_t state;
    ipsec_sa_set_t s;         /* PENDING: ue_addr, spi_pc, spi_ps only */
    uint64_t packets_in_seen; /* stats(): the inbound count last seen, and when it grew */
    int64_t last_in_ms;
} xfrm_set_t;

typedef struct dp_xfrm {
    struct mnl_socket *nl;
    uint32_t portid, seq;
    dp_xfrm_ctx_t ctx;
    uint32_t spi_min, spi_max;
    xfrm_set_t *sets;
    size_t nsets, cap;
    int flushed;          /* the first flush worked: close may flush again */
    char kernel_msg[160]; /* the extended ACK's text of the last error, if any */
    char last_error[512];
    uint8_t rx[RX_BUF];
} dp_xfrm_t;

/* ---- netlink: one request, its answer -------------------------------------------------- */

typedef int (*answer_fn)(const struct nlmsghdr *nlh, void *data);

static int ext_ack_cb(const struct nlattr *attr, void *data)
{
    dp_xfrm_t *dp = data;
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
        snprintf(dp->kernel_msg, sizeof dp->kernel_msg, "%s", mnl_attr_get_str(attr));
    return MNL_CB_OK;
}

/* The kernel's own words for an error (NETLINK_EXT_ACK with NETLINK_CAP_ACK: the TLVs follow
 * the capped nlmsgerr). */
static void read_ext_ack(dp_xfrm_t *dp, const struct nlmsghdr *nlh)
{
    if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && (nlh->nlmsg_flags & NLM_F_CAPPED) &&
        mnl_nlmsg_get_payload_len(nlh) >= sizeof(struct nlmsgerr))
        mnl_attr_parse(nlh, sizeof(struct nlmsgerr), ext_ack_cb, dp);
}

/* One message of the answer to seq: 1 when the answer is complete (*res set), 0 to go on. */
static int on_message(dp_xfrm_t *dp, const struct nlmsghdr *nlh, answer_fn fn, void *data, int *res)
{
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        int err = 0;
        if (xfrm_msg_parse_error(nlh, nlh->nlmsg_len, &err) < 0)
            err = -EBADMSG;
        if (err)
            read_ext_ack(dp, nlh);
        *res = err;
        return 1;
    }
    if (nlh->nlmsg_type == NLMSG_DONE) {
        /* A dump's end; a failed dump carries its errno here. */
        int err = 0;
        if (mnl_nlmsg_get_payload_len(nlh) >= sizeof err)
            memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof err);
        *res = err < 0 ? err : 0;
        return 1;
    }
    int r = fn ? fn(nlh, data) : 0;
    if (r < 0 || !(nlh->nlmsg_flags & NLM_F_MULTI)) {
        *res = r < 0 ? r : 0;
        return 1;
    }
    return 0;
}

/* Sends msg (its seq already set) and reads until its answer is complete: 0, or a negative
 * errno (the kernel's, or -ETIMEDOUT / -EIO from the socket). Answers to other sequence numbers
 * (a late one of an earlier request) are skipped. */
static int transact(dp_xfrm_t *dp, const void *msg, size_t len, answer_fn fn, void *data)
{
    const struct nlmsghdr *req = msg;
    dp->kernel_msg[0] = '\0';
    if (mnl_socket_sendto(dp->nl, msg, len) < 0)
        return -errno;
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(dp->nl, dp->rx, sizeof dp->rx);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        int left = (int)n, res = 0;
        for (const struct nlmsghdr *nlh = (const void *)dp->rx; mnl_nlmsg_ok(nlh, left);
             nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_seq != req->nlmsg_seq || nlh->nlmsg_pid != dp->portid)
                continue;
            if (on_message(dp, nlh, fn, data, &res))
                return res;
        }
    }
}

static uint32_t next_seq(dp_xfrm_t *dp)
{
    return ++dp->seq ? dp->seq : ++dp->seq;
}

static void set_error(dp_xfrm_t *dp, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* last_error = what failed: strerror (the kernel's text). */
static void set_error(dp_xfrm_t *dp, int err, const char *fmt, ...)
{
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (dp->kernel_msg[0])
        snprintf(dp->last_error, sizeof dp->last_error, "%s: %s (the kernel said: %s)", what,
                 strerror(-err), dp->kernel_msg);
    else
        snprintf(dp->last_error, sizeof dp->last_error, "%s: %s", what, strerror(-err));
}

/* ---- flush: dump, keep ours, delete them ----------------------------------------------- */

typedef struct id_list {
    const xfrm_msg_mark_t *ours;
    xfrm_msg_sa_id_t *sas;
    xfrm_msg_policy_id_t *pols;
    size_t n, cap;
    int bad;
} id_list_t;

static int grow(id_list_t *l, size_t elem, void **arr)
{
    if (l->n < l->cap)
        return 0;
    size_t cap = l->cap ? l->cap * 2 : 16;
    void *p = realloc(*arr, cap * elem);
    if (!p)
        return -1;
    *arr = p;
    l->cap = cap;
    return 0;
}

static int collect_sa(const struct nlmsghdr *nlh, void *data)
{
    id_list_t *l = data;
    xfrm_msg_sa_id_t id;
    if (xfrm_msg_parse_sa(nlh, nlh->nlmsg_len, &id) < 0) {
        l->bad++;
        return 0;
    }
    if (!xfrm_msg_mark_is_ours(id.has_mark, &id.mark, l->ours) || id.proto != IPPROTO_ESP)
        return 0;
    if (grow(l, sizeof id, (void **)&l->sas) < 0)
        return -ENOMEM;
    l->sas[l->n++] = id;
    return 0;
}

static int collect_policy(const struct nlmsghdr *nlh, void *data)
{
    id_list_t *l = data;
    xfrm_msg_policy_id_t id;
    if (xfrm_msg_parse_policy(nlh, nlh->nlmsg_len, &id) < 0) {
        l->bad++;
        return 0;
    }
    /* We only ever add in and out policies (the delete builder takes no other). */
    if (!xfrm_msg_mark_is_ours(id.has_mark, &id.mark, l->ours) ||
        (id.dir != XFRM_POLICY_IN && id.dir != XFRM_POLICY_OUT))
        return 0;
    if (grow(l, sizeof id, (void **)&l->pols) < 0)
        return -ENOMEM;
    l->pols[l->n++] = id;
    return 0;
}

/* Deletes one SA; 0 also when it is already gone (a larval SA expires on its own). */
static int del_sa(dp_xfrm_t *dp, uint16_t family, const xfrm_address_t *dst, uint32_t spi)
{
    uint8_t msg[MSG_BUF];
    int len = xfrm_msg_delsa(msg, sizeof msg, next_seq(dp), family, dst, spi, &dp->ctx.mark);
    if (len < 0)
        return -EINVAL;
    int err = transact(dp, msg, (size_t)len, NULL, NULL);
    if (err && err != -ESRCH && err != -ENOENT) {
        set_error(dp, err, "DELSA spi 0x%x", spi);
        return err;
    }
    return 0;
}

/* Every SA and policy with our mark, as a previous run may have left them. 0, or a negative
 * errno (the first request's -EPERM says we lack CAP_NET_ADMIN). *n_sa / *n_pol: deleted. */
static int flush_ours(dp_xfrm_t *dp, int *n_sa, int *n_pol)
{
    uint8_t msg[MSG_BUF];
    id_list_t l = {.ours = &dp->ctx.mark};
    int len = xfrm_msg_dump_sa(msg, sizeof msg, next_seq(dp));
    int err = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, collect_sa, &l);
    *n_sa = *n_pol = 0;
    for (size_t i = 0; !err && i < l.n; i++)
        if (del_sa(dp, l.sas[i].family, &l.sas[i].dst, l.sas[i].spi) == 0)
            (*n_sa)++;
    free(l.sas);
    if (err)
        return err;
    l = (id_list_t){.ours = &dp->ctx.mark};
    len = xfrm_msg_dump_policy(msg, sizeof msg, next_seq(dp));
    err = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, collect_policy, &l);
    for (size_t i = 0; !err && i < l.n; i++) {
        len = xfrm_msg_delpolicy(msg, sizeof msg, next_seq(dp), NULL, l.pols[i].dir,
                                 l.pols[i].index, &dp->ctx.mark);
        int e = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, NULL, NULL);
        if (e == 0)
            (*n_pol)++;
        else if (e != -ENOENT)
            set_error(dp, e, "DELPOLICY index %u", l.pols[i].index);
    }
    free(l.pols);
    return err;
}

/* ---- SPI allocation ---------------------------------------------------------------------- */

static int take_spi(const struct nlmsghdr *nlh, void *data)
{
    xfrm_msg_sa_id_t *id = data;
    return xfrm_msg_parse_sa(nlh, nlh->nlmsg_len, id) < 0 ? -EBADMSG : 0;
}

/* XFRM_MSG_ALLOCSPI for an ESP SA src -> dst: a larval SA the kernel drops after
 * net.core.xfrm_acq_expires seconds unless an UPDSA fills it. 0, or a negative errno. */
static int alloc_one(dp_xfrm_t *dp, const xfrm_address_t *src, const xfrm_address_t *dst,
                     uint32_t *spi)
{
    uint8_t msg[MSG_BUF];
    xfrm_msg_flow_t f;
    memset(&f, 0, sizeof f);
    f.family = dp->ctx.family;
    f.src = *src;
    f.dst = *dst;
    xfrm_msg_sa_id_t id;
    memset(&id, 0, sizeof id);
    int len = xfrm_msg_allocspi(msg, sizeof msg, next_seq(dp), &f, 0, dp->spi_min, dp->spi_max,
                                &dp->ctx.mark);
    if (len < 0)
        return -EINVAL;
    int err = transact(dp, msg, (size_t)len, take_spi, &id);
    if (err) {
        set_error(dp, err, "ALLOCSPI in 0x%x-0x%x", dp->spi_min, dp->spi_max);
        return err;
    }
    if (id.spi < dp->spi_min || id.spi > dp->spi_max) {
        del_sa(dp, f.family, dst, id.spi);
        snprintf(dp->last_error, sizeof dp->last_error, "ALLOCSPI answered 0x%x", id.spi);
        return -ERANGE;
    }
    *spi = id.spi;
    return 0;
}

/* ---- running a plan -------------------------------------------------------------------- */

/* XFRMA_REPLAY_VAL after an outbound NEWSA, so a re-installed SA resumes its sequence numbers
 * (xfrm_msg builds fresh SAs only; the kernel reads this attribute on NEWSA too). */
static int put_oseq(void *buf, size_t size, int len, uint32_t oseq)
{
    struct nlmsghdr *nlh = buf;
    struct xfrm_replay_state rs = {.oseq = oseq};
    if ((size_t)len + MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof rs) > size)
        return -1;
    mnl_attr_put(nlh, XFRMA_REPLAY_VAL, sizeof rs, &rs);
    return (int)nlh->nlmsg_len;
}

static int build_step(dp_xfrm_t *dp, const dp_xfrm_step_t *st, uint8_t *msg, size_t size)
{
    uint32_t seq = next_seq(dp);
    int len = -1;
    switch (st->kind) {
    case DP_XFRM_ADD_POLICY:
        return xfrm_msg_newpolicy(msg, size, seq, &st->policy);
    case DP_XFRM_UPD_SA:
        return xfrm_msg_newsa(msg, size, seq, &st->sa, 1);
    case DP_XFRM_ADD_SA:
        len = xfrm_msg_newsa(msg, size, seq, &st->sa, 0);
        return len > 0 && st->oseq ? put_oseq(msg, size, len, st->oseq) : len;
    case DP_XFRM_DEL_SA:
        return xfrm_msg_delsa(msg, size, seq, st->sa.flow.family, &st->sa.flow.dst, st->sa.spi,
                              &st->sa.mark);
    case DP_XFRM_DEL_POLICY:
        return xfrm_msg_delpolicy(msg, size, seq, &st->policy.flow, st->policy.dir, 0,
                                  &st->policy.mark);
    }
    return len;
}

static const char *step_name(const dp_xfrm_step_t *st)
{
    static const char *const names[] = {"NEWPOLICY", "UPDSA", "NEWSA", "DELSA", "DELPOLICY"};
    return names[st->kind];
}

static int run_step(dp_xfrm_t *dp, const dp_xfrm_step_t *st)
{
    uint8_t msg[MSG_BUF];
    int len = build_step(dp, st, msg, sizeof msg);
    int err = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, NULL, NULL);
    dp_xfrm_step_t add;
    if (err == -ESRCH && st->kind == DP_XFRM_UPD_SA) {
        /* The larval SA is gone: it expired (xfrm_acq_expires) or the SPIs were stored before
         * a restart and never allocated in this run. Add it instead. */
        add = *st;
        add.kind = DP_XFRM_ADD_SA;
        st = &add;
        len = build_step(dp, st, msg, sizeof msg);
        err = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, NULL, NULL);
    }
    if (err) {
        if (st->kind == DP_XFRM_ADD_POLICY || st->kind == DP_XFRM_DEL_POLICY)
            set_error(dp, err, "%s dir %s ports %u->%u", step_name(st),
                      st->policy.dir == XFRM_POLICY_IN ? "in" : "out", st->policy.flow.sport,
                      st->policy.flow.dport);
        else
            set_error(dp, err, "%s spi 0x%x", step_name(st), st->sa.spi);
    }
    return err;
}

/* The steps in order; on a failure, the done ones undone in reverse. 0 or the first error. */
static int run_install(dp_xfrm_t *dp, const dp_xfrm_plan_t *p)
{
    size_t i;
    int err = 0;
    for (i = 0; i < p->n && !err; i++)
        err = run_step(dp, &p->steps[i]);
    if (!err)
        return 0;
    char saved[sizeof dp->last_error];
    memcpy(saved, dp->last_error, sizeof saved);
    for (size_t j = i - 1; j-- > 0;) {
        dp_xfrm_step_t undo;
        if (dp_xfrm_plan_undo(&p->steps[j], &undo) == 0 && run_step(dp, &undo) != 0)
            log_error("xfrm: rollback %s failed: %s", step_name(&undo), dp->last_error);
    }
    memcpy(dp->last_error, saved, sizeof saved);
    return err;
}

/* Every step, errors logged: a removal goes as far as it can. */
static int run_remove(dp_xfrm_t *dp, const dp_xfrm_plan_t *p)
{
    int first = 0;
    for (size_t i = 0; i < p->n; i++) {
        int err = run_step(dp, &p->steps[i]);
        if (err == -ESRCH || err == -ENOENT)
            continue; /* already gone */
        if (err) {
            log_error("xfrm: %s", dp->last_error);
            first = first ? first : err;
        }
    }
    return first;
}

/* ---- the set table ----------------------------------------------------------------------- */

static xfrm_set_t *find_set(dp_xfrm_t *dp, uint32_t spi_pc, uint32_t spi_ps)
{
    for (size_t i = 0; i < dp->nsets; i++)
        if (dp->sets[i].s.spi_pc == spi_pc && dp->sets[i].s.spi_ps == spi_ps)
            return &dp->sets[i];
    return NULL;
}

static xfrm_set_t *add_set(dp_xfrm_t *dp)
{
    if (dp->nsets == dp->cap) {
        size_t cap = dp->cap ? dp->cap * 2 : 16;
        xfrm_set_t *p = realloc(dp->sets, cap * sizeof *p);
        if (!p)
            return NULL;
        dp->sets = p;
        dp->cap = cap;
    }
    xfrm_set_t *e = &dp->sets[dp->nsets++];
    memset(e, 0, sizeof *e);
    return e;
}

static void drop_set(dp_xfrm_t *dp, xfrm_set_t *e)
{
    /* The keys must not linger in freed or reused memory. */
    size_t i = (size_t)(e - dp->sets);
    dp->sets[i] = dp->sets[--dp->nsets];
    memset(&dp->sets[dp->nsets], 0, sizeof dp->sets[dp->nsets]);
}

/* The policies of s no other installed set uses (those to add with s, or delete with it). */
static unsigned own_policies(const dp_xfrm_t *dp, const ipsec_sa_set_t *s, const xfrm_set_t *self)
{
    unsigned shared = 0;
    for (size_t i = 0; i < dp->nsets; i++)
        if (&dp->sets[i] != self && dp->sets[i].state == SET_INSTALLED)
            shared |= dp_xfrm_shared_policies(&dp->sets[i].s, s);
    return DP_XFRM_POL_ALL & ~shared;
}

/* ---- the ops ----------------------------------------------------------------------------- */

static void xfrm_close(void *be);

static int open_socket(dp_xfrm_t *dp, char *err, size_t errlen)
{
    dp->nl = mnl_socket_open(NETLINK_XFRM);
    if (!dp->nl) {
        snprintf(err, errlen,
                 "cannot open NETLINK_XFRM (%s): the kernel needs xfrm_user (modprobe "
                 "xfrm_user), or use ipsec.datapath userspace",
                 strerror(errno));
        return -1;
    }
    int one = 1;
    int fd = mnl_socket_get_fd(dp->nl);
    /* Best effort: the kernel's own words in errors (older kernels lack them). */
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        mnl_socket_bind(dp->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        snprintf(err, errlen, "NETLINK_XFRM socket: %s", strerror(errno));
        return -1;
    }
    dp->portid = mnl_socket_get_portid(dp->nl);
    dp->seq = (uint32_t)time(NULL);
    return 0;
}

/* An SA the kernel must accept if it can do ESP at all: ALLOCSPI (this kernel's xfrm takes
 * it even without ESP), UPDSA with hmac(sha1) and cbc(aes), then delete it. */
static int probe_esp(dp_xfrm_t *dp, char *err, size_t errlen)
{
    static const uint8_t zero_key[24];
    uint32_t spi = 0;
    const xfrm_address_t *me = &dp->ctx.local;
    int e = alloc_one(dp, me, me, &spi);
    if (e) {
        snprintf(err, errlen, "the kernel refused an xfrm SPI (%s)", dp->last_error);
        return -1;
    }
    xfrm_msg_sa_t sa;
    memset(&sa, 0, sizeof sa);
    sa.flow.family = dp->ctx.family;
    sa.flow.src = *me;
    sa.flow.dst = *me;
    sa.spi = spi;
    sa.auth = XFRM_MSG_AUTH_HMAC_SHA1_96;
    sa.auth_key = zero_key;
    sa.auth_key_len = 20;
    sa.enc = XFRM_MSG_ENC_AES_CBC;
    sa.enc_key = zero_key;
    sa.enc_key_len = 16;
    sa.mark = dp->ctx.mark;
    uint8_t msg[MSG_BUF];
    int len = xfrm_msg_newsa(msg, sizeof msg, next_seq(dp), &sa, 1);
    e = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, NULL, NULL);
    if (e)
        set_error(dp, e, "UPDSA of a test ESP SA");
    char said[sizeof dp->last_error];
    memcpy(said, dp->last_error, sizeof said);
    del_sa(dp, dp->ctx.family, me, spi);
    if (e == -EPROTONOSUPPORT)
        snprintf(err, errlen,
                 "the kernel has no ESP support in xfrm (xfrm_user/esp4 modules, "
                 "CONFIG_INET_ESP; %s): use ipsec.datapath userspace",
                 said);
    else if (e == -ENOSYS || e == -ENOENT)
        snprintf(err, errlen,
                 "the kernel's crypto lacks hmac(sha1) or cbc(aes) for ESP (%s): load the "
                 "crypto modules or use ipsec.datapath userspace",
                 said);
    else if (e)
        snprintf(err, errlen, "the kernel refused a test ESP SA (%s)", said);
    return e ? -1 : 0;
}

void *dp_xfrm_open(const ipsec_dp_config_t *cfg, int probe, char *err, size_t errlen)
{
    dp_xfrm_t *dp = calloc(1, sizeof *dp);
    if (!dp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dp->ctx.family = AF_INET;
    dp->ctx.mark.value = 0;
    dp->ctx.mark.mask = cfg->xfrm_mark;
    dp->ctx.priority = POLICY_PRIORITY;
    dp->ctx.replay_window = REPLAY_WINDOW;
    dp->spi_min = cfg->spi_min;
    dp->spi_max = cfg->spi_max;
    if (!cfg->local_addr || inet_pton(AF_INET, cfg->local_addr, &dp->ctx.local) != 1) {
        snprintf(err, errlen, "xfrm datapath: ipsec.address %s is not a numeric IPv4 address",
                 cfg->local_addr ? cfg->local_addr : "(none)");
        goto fail;
    }
    if (cfg->xfrm_mark == 0 || cfg->spi_min < 256 || cfg->spi_min > cfg->spi_max) {
        snprintf(err, errlen,
                 "xfrm datapath: ipsec.xfrm_mark must be nonzero and the SPI range "
                 "within 256..0xffffffff");
        goto fail;
    }
    if (open_socket(dp, err, errlen) < 0)
        goto fail;
    int n_sa = 0, n_pol = 0;
    int e = flush_ours(dp, &n_sa, &n_pol);
    if (e == -EPERM) {
        snprintf(err, errlen,
                 "CAP_NET_ADMIN is needed for the xfrm datapath (NETLINK_XFRM: %s): run as root "
                 "or add NET_ADMIN",
                 strerror(-e));
        goto fail;
    }
    if (e) {
        snprintf(err, errlen, "xfrm datapath: removing our old SAs and policies failed: %s",
                 dp->last_error[0] ? dp->last_error : strerror(-e));
        goto fail;
    }
    dp->flushed = 1;
    if (n_sa || n_pol)
        log_info("xfrm: removed %d SAs and %d policies a previous run left (mask 0x%x)", n_sa,
                 n_pol, cfg->xfrm_mark);
    if (probe && probe_esp(dp, err, errlen) < 0)
        goto fail;
    dp->last_error[0] = '\0';
    return dp;
fail:
    xfrm_close(dp);
    return NULL;
}

static void *xfrm_open(const ipsec_dp_config_t *cfg, su_root_t *root, metrics_t *metrics, char *err,
                       size_t errlen)
{
    /* No metrics: the kernel counts ESP (ip -s xfrm state, /proc/net/xfrm_stat); stats()
     * reads a set's counters. */
    return dp_xfrm_open(cfg, 1, err, errlen);
}

int dp_xfrm_run_steps(void *be, const dp_xfrm_plan_t *plan)
{
    return run_install(be, plan) ? -1 : 0;
}

const char *dp_xfrm_last_error(const void *be)
{
    return ((const dp_xfrm_t *)be)->last_error;
}

static void xfrm_close(void *be)
{
    dp_xfrm_t *dp = be;
    if (!dp)
        return;
    if (dp->flushed) {
        int n_sa = 0, n_pol = 0;
        if (flush_ours(dp, &n_sa, &n_pol) != 0)
            log_error("xfrm: removing our SAs and policies at close: %s", dp->last_error);
    }
    if (dp->nl)
        mnl_socket_close(dp->nl);
    if (dp->sets)
        memset(dp->sets, 0, dp->cap * sizeof *dp->sets);
    free(dp->sets);
    free(dp);
}

static int xfrm_guard_sockets(void *be, char *err, size_t errlen)
{
    return 0; /* the policies already refuse clear packets on the protected flows */
}

static int xfrm_alloc_spis(void *be, const char *ue_addr, uint32_t *spi_pc, uint32_t *spi_ps)
{
    dp_xfrm_t *dp = be;
    xfrm_address_t ue;
    memset(&ue, 0, sizeof ue);
    if (!ue_addr || inet_pton(AF_INET, ue_addr, &ue) != 1 || strlen(ue_addr) >= 46)
        return -1;
    uint32_t pc = 0, ps = 0;
    if (alloc_one(dp, &ue, &dp->ctx.local, &pc) != 0)
        return -1;
    if (alloc_one(dp, &ue, &dp->ctx.local, &ps) != 0) {
        del_sa(dp, dp->ctx.family, &dp->ctx.local, pc);
        return -1;
    }
    xfrm_set_t *e = add_set(dp);
    if (!e) {
        del_sa(dp, dp->ctx.family, &dp->ctx.local, pc);
        del_sa(dp, dp->ctx.family, &dp->ctx.local, ps);
        return -1;
    }
    e->state = SET_PENDING;
    snprintf(e->s.ue_addr, sizeof e->s.ue_addr, "%s", ue_addr);
    e->s.spi_pc = pc;
    e->s.spi_ps = ps;
    *spi_pc = pc;
    *spi_ps = ps;
    return 0;
}

static int xfrm_install(void *be, const ipsec_sa_set_t *s)
{
    dp_xfrm_t *dp = be;
    xfrm_set_t *e = find_set(dp, s->spi_pc, s->spi_ps);
    if (e && e->state == SET_INSTALLED) {
        snprintf(dp->last_error, sizeof dp->last_error, "a set with SPIs 0x%x/0x%x is installed",
                 s->spi_pc, s->spi_ps);
        return -1;
    }
    dp_xfrm_plan_t plan;
    if (dp_xfrm_plan_install(&dp->ctx, s, own_policies(dp, s, e), &plan) < 0) {
        snprintf(dp->last_error, sizeof dp->last_error,
                 "invalid set (address %s, ports, SPIs, algorithms or key lengths)", s->ue_addr);
        return -1;
    }
    int err = run_install(dp, &plan);
    memset(&plan, 0, sizeof plan);
    if (err) {
        log_error("xfrm: installing the SAs of %s failed, nothing left installed: %s", s->ue_addr,
                  dp->last_error);
        return -1;
    }
    if (!e && !(e = add_set(dp))) {
        dp_xfrm_plan_remove(&dp->ctx, s, own_policies(dp, s, NULL), &plan);
        run_remove(dp, &plan);
        return -1;
    }
    e->state = SET_INSTALLED;
    e->s = *s;
    e->packets_in_seen = 0;
    e->last_in_ms = 0;
    return 0;
}

static int xfrm_remove(void *be, uint32_t spi_pc, uint32_t spi_ps)
{
    dp_xfrm_t *dp = be;
    xfrm_set_t *e = find_set(dp, spi_pc, spi_ps);
    if (!e)
        return -1;
    if (e->state == SET_PENDING) {
        del_sa(dp, dp->ctx.family, &dp->ctx.local, spi_pc);
        del_sa(dp, dp->ctx.family, &dp->ctx.local, spi_ps);
    } else {
        dp_xfrm_plan_t plan;
        if (dp_xfrm_plan_remove(&dp->ctx, &e->s, own_policies(dp, &e->s, e), &plan) == 0)
            run_remove(dp, &plan);
    }
    drop_set(dp, e);
    return 0;
}

/* ---- stats: XFRM_MSG_GETSA ------------------------------------------------------------- */

static int take_counters(const struct nlmsghdr *nlh, void *data)
{
    return dp_xfrm_parse_counters(nlh, nlh->nlmsg_len, data) < 0 ? -EBADMSG : 0;
}

/* The kernel's counters of one SA: 0, or a negative errno (-ESRCH: no such SA). */
int dp_xfrm_sa_counters(void *be, const char *dst_text, uint32_t spi, dp_xfrm_counters_t *c)
{
    dp_xfrm_t *dp = be;
    xfrm_address_t dst;
    memset(&dst, 0, sizeof dst);
    memset(c, 0, sizeof *c);
    if (inet_pton(AF_INET, dst_text, &dst) != 1)
        return -EINVAL;
    uint8_t msg[MSG_BUF];
    int len =
        dp_xfrm_getsa(msg, sizeof msg, next_seq(dp), dp->ctx.family, &dst, spi, &dp->ctx.mark);
    int err = len < 0 ? -EINVAL : transact(dp, msg, (size_t)len, take_counters, c);
    if (err)
        set_error(dp, err, "GETSA spi 0x%x", spi);
    return err;
}

static int xfrm_stats(void *be, uint32_t spi_pc, uint32_t spi_ps, ipsec_sa_stats_t *out)
{
    dp_xfrm_t *dp = be;
    xfrm_set_t *e = find_set(dp, spi_pc, spi_ps);
    if (!e || e->state != SET_INSTALLED)
        return -1;
    char local[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &dp->ctx.local, local, sizeof local);
    dp_xfrm_counters_t pc, ps, uc, us;
    if (dp_xfrm_sa_counters(dp, local, spi_pc, &pc) ||
        dp_xfrm_sa_counters(dp, local, spi_ps, &ps) ||
        dp_xfrm_sa_counters(dp, e->s.ue_addr, e->s.spi_uc, &uc) ||
        dp_xfrm_sa_counters(dp, e->s.ue_addr, e->s.spi_us, &us))
        return -1;
    memset(out, 0, sizeof *out);
    out->packets_in = pc.packets + ps.packets;
    out->bytes_in = pc.bytes + ps.bytes;
    out->packets_out = uc.packets + us.packets;
    out->bytes_out = uc.bytes + us.bytes;
    out->seq_out_uc = uc.oseq;
    out->seq_out_us = us.oseq;
    /* The kernel keeps only the time of an SA's first use, so the last inbound packet is
     * "when a stats() call first saw the inbound count grow": as fine as the caller polls. */
    if (out->packets_in > e->packets_in_seen) {
        e->packets_in_seen = out->packets_in;
        e->last_in_ms = clock_mono_ms();
    }
    out->last_in_ms = e->last_in_ms;
    return 0;
}

const ipsec_dp_ops_t ipsec_dp_xfrm_ops = {
    .name = "xfrm",
    .open = xfrm_open,
    .close = xfrm_close,
    .guard_sockets = xfrm_guard_sockets,
    .alloc_spis = xfrm_alloc_spis,
    .install = xfrm_install,
    .remove = xfrm_remove,
    .stats = xfrm_stats,
};
