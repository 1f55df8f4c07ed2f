#include "common/ipsec/xfrm_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/ipsec.h>
#include <linux/netlink.h>

/* Kernel crypto API names (the names `ip xfrm state` takes and prints). */
static const char *auth_name(xfrm_msg_auth_t a, size_t *key_len)
{
    switch (a) {
    case XFRM_MSG_AUTH_HMAC_SHA1_96:
        *key_len = 20;
        return "hmac(sha1)";
    case XFRM_MSG_AUTH_HMAC_MD5_96:
        *key_len = 16;
        return "hmac(md5)";
    }
    return NULL;
}

static const char *enc_name(xfrm_msg_enc_t e, size_t *key_len)
{
    switch (e) {
    case XFRM_MSG_ENC_NULL:
        *key_len = 0;
        return "ecb(cipher_null)";
    case XFRM_MSG_ENC_AES_CBC:
        *key_len = 16;
        return "cbc(aes)";
    case XFRM_MSG_ENC_DES3_CBC:
        *key_len = 24;
        return "cbc(des3_ede)";
    }
    return NULL;
}

/* The room one attribute of len payload bytes takes, padding included. */
static size_t attr_room(size_t len)
{
    return MNL_ATTR_HDRLEN + MNL_ALIGN(len);
}

/* The header and fixed payload, once the whole message (need bytes) is known to fit. */
static struct nlmsghdr *put_msg(void *buf, size_t size, size_t need, uint16_t type, uint16_t flags,
                                uint32_t seq, size_t payload)
{
    if (!buf || need > size || need > UINT32_MAX)
        return NULL;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_seq = seq;
    mnl_nlmsg_put_extra_header(nlh, payload); /* zeroed: unset fields are 0 */
    return nlh;
}

static size_t msg_need(size_t payload)
{
    return MNL_NLMSG_HDRLEN + MNL_ALIGN(payload);
}

static int addr_len(uint16_t family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : -1;
}

static int flow_ok(const xfrm_msg_flow_t *f)
{
    return f && addr_len(f->family) > 0 &&
           (f->l4proto == 0 || f->l4proto == IPPROTO_UDP || f->l4proto == IPPROTO_TCP);
}

/* Exactly the flow: full-length prefixes, and a port matched only when one is given. */
static void put_selector(struct xfrm_selector *sel, const xfrm_msg_flow_t *f)
{
    uint8_t bits = (uint8_t)(addr_len(f->family) * 8);
    sel->family = f->family;
    sel->saddr = f->src;
    sel->daddr = f->dst;
    sel->prefixlen_s = bits;
    sel->prefixlen_d = bits;
    sel->proto = f->l4proto;
    sel->sport = htons(f->sport);
    sel->sport_mask = f->sport ? 0xffff : 0;
    sel->dport = htons(f->dport);
    sel->dport_mask = f->dport ? 0xffff : 0;
}

/* No byte or packet limit: a 0 limit would expire the SA at once (the registration's expiry
 * deletes it instead). */
static void put_no_limits(struct xfrm_lifetime_cfg *lft)
{
    lft->soft_byte_limit = XFRM_INF;
    lft->hard_byte_limit = XFRM_INF;
    lft->soft_packet_limit = XFRM_INF;
    lft->hard_packet_limit = XFRM_INF;
}

static void put_mark(struct nlmsghdr *nlh, const xfrm_msg_mark_t *mark)
{
    struct xfrm_mark m = {.v = mark->value, .m = mark->mask};
    mnl_attr_put(nlh, XFRMA_MARK, sizeof m, &m);
}

/* An xfrm address holds only the family's bytes; the rest must be zero for the kernel's
 * hash and compare. */
static void clean_addr(xfrm_address_t *a, uint16_t family)
{
    if (family == AF_INET)
        memset((uint8_t *)a + 4, 0, sizeof *a - 4);
}

int xfrm_msg_allocspi(void *buf, size_t size, uint32_t seq, const xfrm_msg_flow_t *flow,
                      uint32_t reqid, uint32_t min, uint32_t max, const xfrm_msg_mark_t *mark)
{
    /* SPIs 1-255 are reserved (RFC 4303 2.1). */
    if (!flow_ok(flow) || !mark || min < 256 || min > max)
        return -1;
    size_t need = msg_need(sizeof(struct xfrm_userspi_info)) + attr_room(sizeof(struct xfrm_mark));
    struct nlmsghdr *nlh = put_msg(buf, size, need, XFRM_MSG_ALLOCSPI, NLM_F_REQUEST, seq,
                                   sizeof(struct xfrm_userspi_info));
    if (!nlh)
        return -1;
    struct xfrm_userspi_info *sp = mnl_nlmsg_get_payload(nlh);
    sp->info.family = flow->family;
    sp->info.saddr = flow->src;
    sp->info.id.daddr = flow->dst;
    clean_addr(&sp->info.saddr, flow->family);
    clean_addr(&sp->info.id.daddr, flow->family);
    sp->info.id.proto = IPPROTO_ESP;
    sp->info.mode = XFRM_MODE_TRANSPORT;
    sp->info.reqid = reqid;
    sp->min = min;
    sp->max = max;
    put_mark(nlh, mark);
    return (int)nlh->nlmsg_len;
}

/* The algorithm and key lengths agree (TS 33.203 Annex I sizes). */
static int sa_ok(const xfrm_msg_sa_t *sa, const char **aname, const char **ename)
{
    size_t alen = 0, elen = 0;
    if (!sa || !flow_ok(&sa->flow) || sa->spi == 0)
        return 0;
    *aname = auth_name(sa->auth, &alen);
    *ename = enc_name(sa->enc, &elen);
    if (!*aname || !*ename || sa->auth_key_len != alen || !sa->auth_key)
        return 0;
    return sa->enc_key_len == elen && (elen == 0 || sa->enc_key);
}

static void put_auth(struct nlmsghdr *nlh, const char *name, const uint8_t *key, size_t len)
{
    /* Built in place (the struct ends in its key, so mnl_attr_put would need a copy first). */
    struct nlattr *attr = mnl_nlmsg_get_payload_tail(nlh);
    struct xfrm_algo_auth *a = mnl_attr_get_payload(attr);
    size_t plen = sizeof *a + len;
    attr->nla_type = XFRMA_ALG_AUTH_TRUNC;
    attr->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + plen);
    memset(a, 0, MNL_ALIGN(plen));
    strncpy(a->alg_name, name, sizeof a->alg_name - 1);
    a->alg_key_len = (unsigned)(len * 8);
    a->alg_trunc_len = 96;
    memcpy(a->alg_key, key, len);
    nlh->nlmsg_len += MNL_ALIGN(attr->nla_len);
}

static void put_crypt(struct nlmsghdr *nlh, const char *name, const uint8_t *key, size_t len)
{
    struct nlattr *attr = mnl_nlmsg_get_payload_tail(nlh);
    struct xfrm_algo *a = mnl_attr_get_payload(attr);
    size_t plen = sizeof *a + len;
    attr->nla_type = XFRMA_ALG_CRYPT;
    attr->nla_len = (uint16_t)(MNL_ATTR_HDRLEN + plen);
    memset(a, 0, MNL_ALIGN(plen));
    strncpy(a->alg_name, name, sizeof a->alg_name - 1);
    a->alg_key_len = (unsigned)(len * 8);
    if (len)
        memcpy(a->alg_key, key, len);
    nlh->nlmsg_len += MNL_ALIGN(attr->nla_len);
}

int xfrm_msg_newsa(void *buf, size_t size, uint32_t seq, const xfrm_msg_sa_t *sa, int update)
{
    const char *aname = NULL, *ename = NULL;
    if (!sa_ok(sa, &aname, &ename))
        return -1;
    size_t need = msg_need(sizeof(struct xfrm_usersa_info)) +
                  attr_room(sizeof(struct xfrm_algo_auth) + sa->auth_key_len) +
                  attr_room(sizeof(struct xfrm_algo) + sa->enc_key_len) +
                  attr_room(sizeof(struct xfrm_mark));
    /* The kernel tells add from update by the type alone (as iproute2 does, no NLM_F_CREATE). */
    uint16_t flags = NLM_F_REQUEST | NLM_F_ACK;
    struct nlmsghdr *nlh = put_msg(buf, size, need, update ? XFRM_MSG_UPDSA : XFRM_MSG_NEWSA, flags,
                                   seq, sizeof(struct xfrm_usersa_info));
    if (!nlh)
        return -1;
    struct xfrm_usersa_info *info = mnl_nlmsg_get_payload(nlh);
    put_selector(&info->sel, &sa->flow);
    info->id.daddr = sa->flow.dst;
    info->id.spi = htonl(sa->spi);
    info->id.proto = IPPROTO_ESP;
    info->saddr = sa->flow.src;
    clean_addr(&info->sel.saddr, sa->flow.family);
    clean_addr(&info->sel.daddr, sa->flow.family);
    clean_addr(&info->id.daddr, sa->flow.family);
    clean_addr(&info->saddr, sa->flow.family);
    put_no_limits(&info->lft);
    info->reqid = sa->reqid;
    info->family = sa->flow.family;
    info->mode = XFRM_MODE_TRANSPORT;
    info->replay_window = sa->replay_window;
    put_auth(nlh, aname, sa->auth_key, sa->auth_key_len);
    put_crypt(nlh, ename, sa->enc_key, sa->enc_key_len);
    put_mark(nlh, &sa->mark);
    return (int)nlh->nlmsg_len;
}

int xfrm_msg_newpolicy(void *buf, size_t size, uint32_t seq, const xfrm_msg_policy_t *pol)
{
    if (!pol || !flow_ok(&pol->flow) || (pol->dir != XFRM_POLICY_IN && pol->dir != XFRM_POLICY_OUT))
        return -1;
    size_t need = msg_need(sizeof(struct xfrm_userpolicy_info)) +
                  attr_room(sizeof(struct xfrm_user_tmpl)) + attr_room(sizeof(struct xfrm_mark));
    struct nlmsghdr *nlh = put_msg(buf, size, need, XFRM_MSG_NEWPOLICY, NLM_F_REQUEST | NLM_F_ACK,
                                   seq, sizeof(struct xfrm_userpolicy_info));
    if (!nlh)
        return -1;
    struct xfrm_userpolicy_info *p = mnl_nlmsg_get_payload(nlh);
    put_selector(&p->sel, &pol->flow);
    clean_addr(&p->sel.saddr, pol->flow.family);
    clean_addr(&p->sel.daddr, pol->flow.family);
    put_no_limits(&p->lft);
    p->priority = pol->priority;
    p->dir = pol->dir;
    p->action = XFRM_POLICY_ALLOW;
    p->share = XFRM_SHARE_ANY;
    /* Transport mode: the template's ends are the packet's; any SPI, any algorithm. */
    struct xfrm_user_tmpl t = {0};
    t.id.daddr = pol->flow.dst;
    t.id.proto = IPPROTO_ESP;
    t.saddr = pol->flow.src;
    clean_addr(&t.id.daddr, pol->flow.family);
    clean_addr(&t.saddr, pol->flow.family);
    t.family = pol->flow.family;
    t.reqid = pol->reqid;
    t.mode = XFRM_MODE_TRANSPORT;
    t.share = XFRM_SHARE_ANY;
    t.aalgos = t.ealgos = t.calgos = ~0u;
    mnl_attr_put(nlh, XFRMA_TMPL, sizeof t, &t);
    put_mark(nlh, &pol->mark);
    return (int)nlh->nlmsg_len;
}

int xfrm_msg_delsa(void *buf, size_t size, uint32_t seq, uint16_t family, const xfrm_address_t *dst,
                   uint32_t spi, const xfrm_msg_mark_t *mark)
{
    if (addr_len(family) < 0 || !dst || !mark || spi == 0)
        return -1;
    size_t need = msg_need(sizeof(struct xfrm_usersa_id)) + attr_room(sizeof(struct xfrm_mark));
    struct nlmsghdr *nlh = put_msg(buf, size, need, XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK, seq,
                                   sizeof(struct xfrm_usersa_id));
    if (!nlh)
        return -1;
    struct xfrm_usersa_id *id = mnl_nlmsg_get_payload(nlh);
    id->daddr = *dst;
    clean_addr(&id->daddr, family);
    id->spi = htonl(spi);
    id->family = family;
    id->proto = IPPROTO_ESP;
    put_mark(nlh, mark);
    return (int)nlh->nlmsg_len;
}

int xfrm_msg_delpolicy(void *buf, size_t size, uint32_t seq, const xfrm_msg_flow_t *flow,
                       uint8_t dir, uint32_t index, const xfrm_msg_mark_t *mark)
{
    if (!mark || (dir != XFRM_POLICY_IN && dir != XFRM_POLICY_OUT) ||
        (index == 0 && !flow_ok(flow)))
        return -1;
    size_t need = msg_need(sizeof(struct xfrm_userpolicy_id)) + attr_room(sizeof(struct xfrm_mark));
    struct nlmsghdr *nlh = put_msg(buf, size, need, XFRM_MSG_DELPOLICY, NLM_F_REQUEST | NLM_F_ACK,
                                   seq, sizeof(struct xfrm_userpolicy_id));
    if (!nlh)
        return -1;
    struct xfrm_userpolicy_id *id = mnl_nlmsg_get_payload(nlh);
    if (index == 0) {
        put_selector(&id->sel, flow);
        clean_addr(&id->sel.saddr, flow->family);
        clean_addr(&id->sel.daddr, flow->family);
    }
    id->index = index;
    id->dir = dir;
    put_mark(nlh, mark);
    return (int)nlh->nlmsg_len;
}

static int dump(void *buf, size_t size, uint32_t seq, uint16_t type)
{
    struct nlmsghdr *nlh =
        put_msg(buf, size, msg_need(0), type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
    return nlh ? (int)nlh->nlmsg_len : -1;
}

int xfrm_msg_dump_sa(void *buf, size_t size, uint32_t seq)
{
    return dump(buf, size, seq, XFRM_MSG_GETSA);
}

int xfrm_msg_dump_policy(void *buf, size_t size, uint32_t seq)
{
    return dump(buf, size, seq, XFRM_MSG_GETPOLICY);
}

/* The one message at buf when it is whole, of type, with at least payload bytes. */
static const struct nlmsghdr *get_msg(const void *buf, size_t len, uint16_t type, size_t payload)
{
    if (!buf || len < MNL_NLMSG_HDRLEN || len > INT32_MAX)
        return NULL;
    const struct nlmsghdr *nlh = buf;
    if (!mnl_nlmsg_ok(nlh, (int)len) || nlh->nlmsg_type != type)
        return NULL;
    return mnl_nlmsg_get_payload_len(nlh) >= payload ? nlh : NULL;
}

int xfrm_msg_parse_error(const void *buf, size_t len, int *err)
{
    const struct nlmsghdr *nlh = get_msg(buf, len, NLMSG_ERROR, sizeof(struct nlmsgerr));
    if (!nlh || !err)
        return -1;
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
    /* The kernel sends a negative errno (0 = ACK); anything else is not a kernel answer. */
    if (e->error > 0 || e->error < -4095)
        return -1;
    *err = e->error;
    return 0;
}

/* Finds XFRMA_MARK among the attributes after the fixed payload; -1 on a malformed one. */
typedef struct mark_find {
    int has;
    xfrm_msg_mark_t mark;
} mark_find_t;

static int mark_cb(const struct nlattr *attr, void *data)
{
    mark_find_t *f = data;
    if (mnl_attr_get_type(attr) != XFRMA_MARK)
        return MNL_CB_OK;
    if (mnl_attr_get_payload_len(attr) != sizeof(struct xfrm_mark))
        return MNL_CB_ERROR;
    struct xfrm_mark m;
    memcpy(&m, mnl_attr_get_payload(attr), sizeof m);
    f->has = 1;
    f->mark.value = m.v;
    f->mark.mask = m.m;
    return MNL_CB_OK;
}

static int find_mark(const struct nlmsghdr *nlh, size_t offset, mark_find_t *f)
{
    memset(f, 0, sizeof *f);
    return mnl_attr_parse(nlh, (unsigned)offset, mark_cb, f) == MNL_CB_ERROR ? -1 : 0;
}

int xfrm_msg_parse_sa(const void *buf, size_t len, xfrm_msg_sa_id_t *out)
{
    const struct nlmsghdr *nlh = get_msg(buf, len, XFRM_MSG_NEWSA, sizeof(struct xfrm_usersa_info));
    mark_find_t f;
    if (!nlh || !out || find_mark(nlh, sizeof(struct xfrm_usersa_info), &f) < 0)
        return -1;
    /* Copied out: a message in a dump is only 4-aligned, the struct (64-bit counters) wants 8. */
    struct xfrm_usersa_info info;
    memcpy(&info, mnl_nlmsg_get_payload(nlh), sizeof info);
    if (addr_len(info.family) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    out->family = info.family;
    out->src = info.saddr;
    out->dst = info.id.daddr;
    out->spi = ntohl(info.id.spi);
    out->proto = info.id.proto;
    out->reqid = info.reqid;
    out->has_mark = f.has;
    out->mark = f.mark;
    return 0;
}

int xfrm_msg_parse_policy(const void *buf, size_t len, xfrm_msg_policy_id_t *out)
{
    const struct nlmsghdr *nlh =
        get_msg(buf, len, XFRM_MSG_NEWPOLICY, sizeof(struct xfrm_userpolicy_info));
    mark_find_t f;
    if (!nlh || !out || find_mark(nlh, sizeof(struct xfrm_userpolicy_info), &f) < 0)
        return -1;
    struct xfrm_userpolicy_info p; /* copied out: only 4-aligned in a dump (see above) */
    memcpy(&p, mnl_nlmsg_get_payload(nlh), sizeof p);
    memset(out, 0, sizeof *out);
    out->index = p.index;
    out->dir = p.dir;
    out->has_mark = f.has;
    out->mark = f.mark;
    return 0;
}

int xfrm_msg_mark_is_ours(int has_mark, const xfrm_msg_mark_t *theirs, const xfrm_msg_mark_t *ours)
{
    return has_mark && theirs && ours && theirs->value == ours->value && theirs->mask == ours->mask;
}
