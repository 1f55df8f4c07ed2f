#include "common/ipsec/dp_xfrm_plan.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

int dp_xfrm_auth_of(ipsec_alg_t alg, xfrm_msg_auth_t *out)
{
    switch (alg) {
    case IPSEC_ALG_HMAC_SHA1_96:
        *out = XFRM_MSG_AUTH_HMAC_SHA1_96;
        return 0;
    case IPSEC_ALG_HMAC_MD5_96:
        *out = XFRM_MSG_AUTH_HMAC_MD5_96;
        return 0;
    }
    return -1;
}

int dp_xfrm_enc_of(ipsec_ealg_t ealg, xfrm_msg_enc_t *out)
{
    switch (ealg) {
    case IPSEC_EALG_NULL:
        *out = XFRM_MSG_ENC_NULL;
        return 0;
    case IPSEC_EALG_AES_CBC:
        *out = XFRM_MSG_ENC_AES_CBC;
        return 0;
    case IPSEC_EALG_DES_EDE3_CBC:
        *out = XFRM_MSG_ENC_DES3_CBC;
        return 0;
    }
    return -1;
}

/* The four flows of a set, in the order of the header: the UE's two, then ours. */
typedef struct set_flows {
    xfrm_msg_flow_t to_ps, to_pc, to_uc, to_us;
} set_flows_t;

static xfrm_msg_flow_t one_flow(const dp_xfrm_ctx_t *ctx, const xfrm_address_t *src,
                                const xfrm_address_t *dst, uint16_t sport, uint16_t dport)
{
    xfrm_msg_flow_t f;
    memset(&f, 0, sizeof f);
    f.family = ctx->family;
    f.src = *src;
    f.dst = *dst;
    f.sport = sport;
    f.dport = dport;
    f.l4proto = 0; /* UDP and TCP: SIP uses both over the same SAs (TS 33.203 7.1) */
    return f;
}

static int flows_of(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, set_flows_t *fl)
{
    xfrm_address_t ue;
    memset(&ue, 0, sizeof ue);
    if (ctx->family != AF_INET || inet_pton(AF_INET, s->ue_addr, &ue) != 1)
        return -1;
    /* A port 0 would widen a selector to every port: never what a set means. */
    if (!s->port_uc || !s->port_us || !s->port_pc || !s->port_ps)
        return -1;
    fl->to_ps = one_flow(ctx, &ue, &ctx->local, s->port_uc, s->port_ps);
    fl->to_pc = one_flow(ctx, &ue, &ctx->local, s->port_us, s->port_pc);
    fl->to_uc = one_flow(ctx, &ctx->local, &ue, s->port_ps, s->port_uc);
    fl->to_us = one_flow(ctx, &ctx->local, &ue, s->port_pc, s->port_us);
    return 0;
}

static int sa_of(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, const xfrm_msg_flow_t *f,
                 uint32_t spi, xfrm_msg_sa_t *sa)
{
    memset(sa, 0, sizeof *sa);
    if (spi == 0 || dp_xfrm_auth_of(s->keys.alg, &sa->auth) < 0 ||
        dp_xfrm_enc_of(s->keys.ealg, &sa->enc) < 0)
        return -1;
    sa->flow = *f;
    sa->spi = spi;
    sa->reqid = 0;
    sa->replay_window = ctx->replay_window;
    sa->auth_key = s->keys.auth_key;
    sa->auth_key_len = s->keys.auth_key_len;
    sa->enc_key = s->keys.enc_key_len ? s->keys.enc_key : NULL;
    sa->enc_key_len = s->keys.enc_key_len;
    sa->mark = ctx->mark;
    /* The lengths must be the algorithm's (xfrm_msg refuses others; refuse here so a bad set
     * never gets half installed). */
    size_t alen = sa->auth == XFRM_MSG_AUTH_HMAC_SHA1_96 ? 20 : 16;
    size_t elen = sa->enc == XFRM_MSG_ENC_NULL ? 0 : sa->enc == XFRM_MSG_ENC_AES_CBC ? 16 : 24;
    return sa->auth_key_len == alen && sa->enc_key_len == elen ? 0 : -1;
}

static void add_policy(dp_xfrm_plan_t *p, dp_xfrm_step_kind_t kind, const dp_xfrm_ctx_t *ctx,
                       const xfrm_msg_flow_t *f, uint8_t dir)
{
    dp_xfrm_step_t *st = &p->steps[p->n++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->policy.flow = *f;
    st->policy.dir = dir;
    st->policy.priority = ctx->priority;
    st->policy.reqid = 0;
    st->policy.mark = ctx->mark;
}

static void add_policies(dp_xfrm_plan_t *p, dp_xfrm_step_kind_t kind, const dp_xfrm_ctx_t *ctx,
                         const set_flows_t *fl, unsigned mask)
{
    if (mask & DP_XFRM_POL_IN_PC)
        add_policy(p, kind, ctx, &fl->to_pc, XFRM_POLICY_IN);
    if (mask & DP_XFRM_POL_IN_PS)
        add_policy(p, kind, ctx, &fl->to_ps, XFRM_POLICY_IN);
    if (mask & DP_XFRM_POL_OUT_US)
        add_policy(p, kind, ctx, &fl->to_us, XFRM_POLICY_OUT);
    if (mask & DP_XFRM_POL_OUT_UC)
        add_policy(p, kind, ctx, &fl->to_uc, XFRM_POLICY_OUT);
}

unsigned dp_xfrm_shared_policies(const ipsec_sa_set_t *a, const ipsec_sa_set_t *b)
{
    if (strcmp(a->ue_addr, b->ue_addr) != 0)
        return 0;
    unsigned m = 0;
    if (a->port_us == b->port_us && a->port_pc == b->port_pc)
        m |= DP_XFRM_POL_IN_PC | DP_XFRM_POL_OUT_US;
    if (a->port_uc == b->port_uc && a->port_ps == b->port_ps)
        m |= DP_XFRM_POL_IN_PS | DP_XFRM_POL_OUT_UC;
    return m;
}

static int add_sa(dp_xfrm_plan_t *p, dp_xfrm_step_kind_t kind, const dp_xfrm_ctx_t *ctx,
                  const ipsec_sa_set_t *s, const xfrm_msg_flow_t *f, uint32_t spi, uint32_t oseq)
{
    dp_xfrm_step_t *st = &p->steps[p->n];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->oseq = oseq;
    if (sa_of(ctx, s, f, spi, &st->sa) < 0)
        return -1;
    p->n++;
    return 0;
}

int dp_xfrm_plan_install(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, unsigned policies,
                         dp_xfrm_plan_t *out)
{
    set_flows_t fl;
    memset(out, 0, sizeof *out);
    if (flows_of(ctx, s, &fl) < 0)
        return -1;
    add_policies(out, DP_XFRM_ADD_POLICY, ctx, &fl, policies);
    if (add_sa(out, DP_XFRM_UPD_SA, ctx, s, &fl.to_pc, s->spi_pc, 0) < 0 ||
        add_sa(out, DP_XFRM_UPD_SA, ctx, s, &fl.to_ps, s->spi_ps, 0) < 0 ||
        add_sa(out, DP_XFRM_ADD_SA, ctx, s, &fl.to_us, s->spi_us, s->seq_out_us) < 0 ||
        add_sa(out, DP_XFRM_ADD_SA, ctx, s, &fl.to_uc, s->spi_uc, s->seq_out_uc) < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

static void del_sa(dp_xfrm_plan_t *p, const dp_xfrm_ctx_t *ctx, const xfrm_msg_flow_t *f,
                   uint32_t spi)
{
    dp_xfrm_step_t *st = &p->steps[p->n++];
    memset(st, 0, sizeof *st);
    st->kind = DP_XFRM_DEL_SA;
    st->sa.flow = *f;
    st->sa.spi = spi;
    st->sa.mark = ctx->mark;
}

int dp_xfrm_plan_remove(const dp_xfrm_ctx_t *ctx, const ipsec_sa_set_t *s, unsigned policies,
                        dp_xfrm_plan_t *out)
{
    set_flows_t fl;
    memset(out, 0, sizeof *out);
    if (flows_of(ctx, s, &fl) < 0 || !s->spi_pc || !s->spi_ps || !s->spi_uc || !s->spi_us)
        return -1;
    del_sa(out, ctx, &fl.to_pc, s->spi_pc);
    del_sa(out, ctx, &fl.to_ps, s->spi_ps);
    del_sa(out, ctx, &fl.to_us, s->spi_us);
    del_sa(out, ctx, &fl.to_uc, s->spi_uc);
    add_policies(out, DP_XFRM_DEL_POLICY, ctx, &fl, policies);
    return 0;
}

int dp_xfrm_plan_undo(const dp_xfrm_step_t *done, dp_xfrm_step_t *undo)
{
    memset(undo, 0, sizeof *undo);
    switch (done->kind) {
    case DP_XFRM_UPD_SA:
    case DP_XFRM_ADD_SA:
        undo->kind = DP_XFRM_DEL_SA;
        undo->sa.flow = done->sa.flow;
        undo->sa.spi = done->sa.spi;
        undo->sa.mark = done->sa.mark;
        return 0;
    case DP_XFRM_ADD_POLICY:
        undo->kind = DP_XFRM_DEL_POLICY;
        undo->policy = done->policy;
        return 0;
    case DP_XFRM_DEL_SA:
    case DP_XFRM_DEL_POLICY:
        break;
    }
    return -1;
}

int dp_xfrm_getsa(void *buf, size_t size, uint32_t seq, uint16_t family, const xfrm_address_t *dst,
                  uint32_t spi, const xfrm_msg_mark_t *mark)
{
    int len = xfrm_msg_delsa(buf, size, seq, family, dst, spi, mark);
    if (len < 0)
        return -1;
    struct nlmsghdr *nlh = buf;
    nlh->nlmsg_type = XFRM_MSG_GETSA;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    return len;
}

static int replay_cb(const struct nlattr *attr, void *data)
{
    dp_xfrm_counters_t *c = data;
    uint16_t type = mnl_attr_get_type(attr);
    size_t len = mnl_attr_get_payload_len(attr);
    if (type == XFRMA_REPLAY_VAL && len >= sizeof(struct xfrm_replay_state)) {
        struct xfrm_replay_state rs;
        memcpy(&rs, mnl_attr_get_payload(attr), sizeof rs);
        c->oseq = rs.oseq;
    } else if (type == XFRMA_REPLAY_ESN_VAL && len >= sizeof(struct xfrm_replay_state_esn)) {
        struct xfrm_replay_state_esn rs;
        memcpy(&rs, mnl_attr_get_payload(attr), sizeof rs);
        c->oseq = rs.oseq;
    }
    return MNL_CB_OK;
}

int dp_xfrm_parse_counters(const void *buf, size_t len, dp_xfrm_counters_t *out)
{
    xfrm_msg_sa_id_t id;
    /* xfrm_msg_parse_sa checks the type, the lengths and the attributes' framing. */
    if (!out || xfrm_msg_parse_sa(buf, len, &id) < 0)
        return -1;
    const struct nlmsghdr *nlh = buf;
    struct xfrm_usersa_info info; /* copied: 4-aligned in a dump, the struct wants 8 */
    memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof info);
    memset(out, 0, sizeof *out);
    out->bytes = info.curlft.bytes;
    out->packets = info.curlft.packets;
    out->use_time = info.curlft.use_time;
    return mnl_attr_parse(nlh, sizeof info, replay_cb, out) == MNL_CB_ERROR ? -1 : 0;
}
