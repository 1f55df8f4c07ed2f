#include "common/ipsec/route_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>

/* Bounds rtnl_flush_rules: we add two rules, so more than a few at one priority and table are
 * not ours to loop over forever. */
#define FLUSH_MAX 16

struct rtnl {
    struct mnl_socket *sock;
    uint32_t seq;
    /* One request or acknowledgement at a time; MNL_SOCKET_BUFFER_SIZE holds either. */
    char buf[8192];
};

rtnl_t *rtnl_open(void)
{
    rtnl_t *nl = calloc(1, sizeof *nl);
    if (!nl)
        return NULL;
    nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        rtnl_close(nl);
        errno = e;
        return NULL;
    }
    nl->seq = (uint32_t)time(NULL);
    return nl;
}

void rtnl_close(rtnl_t *nl)
{
    if (!nl)
        return;
    if (nl->sock)
        mnl_socket_close(nl->sock);
    free(nl);
}

static struct nlmsghdr *start(rtnl_t *nl, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    nlh->nlmsg_seq = ++nl->seq;
    return nlh;
}

/* Sends the request and reads its acknowledgement: 0, or -errno (the kernel's, when it
 * refused). */
static int talk(rtnl_t *nl, struct nlmsghdr *nlh)
{
    uint32_t seq = nlh->nlmsg_seq;
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof nl->buf);
    if (n < 0)
        return -errno;
    if (mnl_cb_run(nl->buf, (size_t)n, seq, mnl_socket_get_portid(nl->sock), NULL, NULL) < 0)
        return errno ? -errno : -EPROTO;
    return 0;
}

int rtnl_link_up(rtnl_t *nl, unsigned ifindex, uint32_t mtu)
{
    struct nlmsghdr *nlh = start(nl, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = (int)ifindex;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    return talk(nl, nlh);
}

int rtnl_default_route(rtnl_t *nl, int add, unsigned ifindex, uint32_t table)
{
    struct nlmsghdr *nlh =
        add ? start(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE) : start(nl, RTM_DELROUTE, 0);
    struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
    rtm->rtm_family = AF_INET;
    rtm->rtm_table = RT_TABLE_UNSPEC; /* RTA_TABLE holds it: tables above 255 fit */
    rtm->rtm_protocol = RTPROT_STATIC;
    rtm->rtm_scope = RT_SCOPE_LINK;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_TABLE, table);
    mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
    return talk(nl, nlh);
}

static struct nlmsghdr *rule_msg(rtnl_t *nl, uint16_t type, uint16_t flags, uint32_t table,
                                 uint32_t pref)
{
    struct nlmsghdr *nlh = start(nl, type, flags);
    struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof *frh);
    frh->family = AF_INET;
    frh->action = FR_ACT_TO_TBL;
    mnl_attr_put_u32(nlh, FRA_TABLE, table);
    mnl_attr_put_u32(nlh, FRA_PRIORITY, pref);
    return nlh;
}

int rtnl_sport_rule(rtnl_t *nl, uint32_t src, uint16_t port, uint32_t table, uint32_t pref)
{
    struct nlmsghdr *nlh = rule_msg(nl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, table, pref);
    struct fib_rule_hdr *frh = mnl_nlmsg_get_payload(nlh);
    struct fib_rule_port_range range = {.start = port, .end = port};
    frh->src_len = 32;
    mnl_attr_put(nlh, FRA_SRC, sizeof src, &src);
    mnl_attr_put(nlh, FRA_SPORT_RANGE, sizeof range, &range);
    return talk(nl, nlh);
}

int rtnl_flush_rules(rtnl_t *nl, uint32_t table, uint32_t pref)
{
    /* A delete names only the priority and table, so the kernel removes the first rule that
     * has both, whatever else it matches on; repeat until none is left. */
    int n = 0;
    for (; n < FLUSH_MAX; n++) {
        int rc = talk(nl, rule_msg(nl, RTM_DELRULE, 0, table, pref));
        if (rc == -ENOENT)
            return n;
        if (rc < 0)
            return rc;
    }
    return n;
}
