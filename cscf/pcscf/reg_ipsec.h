/* Security agreement and the IPsec SA lifecycle at the P-CSCF (TS 33.203 7, TS 24.229 5.2.2,
 * RFC 3329): the config, the datapath and protected listeners, the REGISTER's part of the
 * negotiation (register.c calls in), the check that a protected UE's requests come through its
 * SA and the way requests go to it (route.c). With ipsec.mode off pc->ipsec is NULL and only
 * the refusal of a UE that requires sec-agree is left. */
#ifndef CSCF_PCSCF_REG_IPSEC_H
#define CSCF_PCSCF_REG_IPSEC_H

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>

#include "cscf/pcscf/pc_sa.h"
#include "cscf/pcscf/pcscf.h"

/* The config keys (ipsec.*), for main.c's table. */
#define PC_IPSEC_KEYS                                                                                \
    {"ipsec.mode",                                                                                   \
     CFG_ENUM,                                                                                       \
     "off",                                                                                          \
     "IPsec security agreement on Gm (RFC 3329, TS 33.203): off = none (a UE that requires "         \
     "sec-agree gets 420); optional = protect UEs that offer ipsec-3gpp, serve the others "          \
     "unprotected; required = refuse a REGISTER without an agreement (421/494)",                     \
     0,                                                                                              \
     0,                                                                                              \
     "off|optional|required"},                                                                       \
        {"ipsec.datapath",                                                                           \
         CFG_ENUM,                                                                                   \
         "userspace",                                                                                \
         "who does ESP: userspace = this process (raw ESP socket + TUN device; kernels without "     \
         "IPsec), xfrm = the kernel over NETLINK_XFRM; both need CAP_NET_ADMIN",                     \
         0,                                                                                          \
         0,                                                                                          \
         "userspace|xfrm"},                                                                          \
        {"ipsec.algorithms",                                                                         \
         CFG_LIST,                                                                                   \
         "hmac-sha-1-96/aes-cbc,hmac-md5-96/aes-cbc,hmac-sha-1-96/des-ede3-cbc,"                     \
         "hmac-md5-96/des-ede3-cbc,hmac-sha-1-96/null,hmac-md5-96/null",                             \
         "integrity/encryption pairs (alg/ealg) we agree to, most preferred first; pairs with "      \
         "null encryption count only with ipsec.allow_null",                                         \
         0,                                                                                          \
         0,                                                                                          \
         NULL},                                                                                      \
        {"ipsec.allow_null",                                                                         \
         CFG_BOOL,                                                                                   \
         "false",                                                                                    \
         "agree to ealg=null (integrity without confidentiality)",                                   \
         0,                                                                                          \
         0,                                                                                          \
         NULL},                                                                                      \
        {"ipsec.address",                                                                            \
         CFG_STRING,                                                                                 \
         NULL,                                                                                       \
         "the P-CSCF's Gm address (numeric IPv4) for the protected ports and SAs; default: the "     \
         "host of the first sip.listen entry",                                                       \
         0,                                                                                          \
         0,                                                                                          \
         NULL},                                                                                      \
        {"ipsec.port_pc",                                                                            \
         CFG_INT,                                                                                    \
         "5062",                                                                                     \
         "protected client port: requests to protected UEs leave from it",                           \
         1,                                                                                          \
         65535,                                                                                      \
         NULL},                                                                                      \
        {"ipsec.port_ps",                                                                            \
         CFG_INT,                                                                                    \
         "5063",                                                                                     \
         "protected server port: protected UEs send their requests to it",                           \
         1,                                                                                          \
         65535,                                                                                      \
         NULL},                                                                                      \
        {"ipsec.spi_min", CFG_INT, "4096", "lowest SPI of our inbound SAs", 256, 4294967295L, NULL}, \
        {"ipsec.spi_max", CFG_INT, "2147483647", "highest SPI of our inbound SAs", 256,              \
         4294967295L,     NULL},                                                                     \
        {"ipsec.tun_name",                                                                           \
         CFG_STRING,                                                                                 \
         "cscf-esp0",                                                                                \
         "userspace datapath: the TUN device's name",                                                \
         0,                                                                                          \
         0,                                                                                          \
         NULL},                                                                                      \
        {"ipsec.route_table",                                                                        \
         CFG_INT,                                                                                    \
         "5063",                                                                                     \
         "userspace datapath: the policy routing table for packets from port_pc/port_ps (not "       \
         "253-255)",                                                                                 \
         1,                                                                                          \
         4294967295L,                                                                                \
         NULL},                                                                                      \
        {"ipsec.rule_pref",                                                                          \
         CFG_INT,                                                                                    \
         "1000",                                                                                     \
         "userspace datapath: the priority of its ip rules",                                         \
         1,                                                                                          \
         32765,                                                                                      \
         NULL},                                                                                      \
        {"ipsec.xfrm_mark",                                                                          \
         CFG_INT,                                                                                    \
         "268435456",                                                                                \
         "xfrm datapath: the mark mask of our SAs and policies (value 0 under it, so the pcscf's "   \
         "unmarked packets match; only ours are ever flushed); packets whose own mark has one of "   \
         "its bits bypass our policies: default one bit (0x10000000)",                               \
         1,                                                                                          \
         4294967295L,                                                                                \
         NULL},                                                                                      \
    {                                                                                                \
        "ipsec.grace", CFG_INT, "30",                                                                \
            "seconds an older SA set stays usable after a re-registration confirmed a new one "      \
            "(TS 33.203 7.4)",                                                                       \
            0, 3600, NULL                                                                            \
    }

/* Program check: the ipsec.* values make sense together. 0, or -1 with one message in err. */
int pc_ipsec_check(const cfg_t *cfg, char *err, size_t len);
/* Opens the datapath, binds the protected listeners, guards them. 0, or -1 (logged: a missing
 * CAP_NET_ADMIN is named). pc->ipsec stays NULL with mode off. Called before anything sends
 * SIP (reg event subscriptions, restored bindings): listeners come first (sip_core_add_listener).
 */
int pc_ipsec_init(pcscf_t *pc);
void pc_ipsec_fini(pcscf_t *pc);

/* What one REGISTER's relay keeps for its responses. */
typedef struct pc_reg_sa {
    int negotiate;           /* a usable offer was chosen: SAs at the 401 */
    sec_agree_offer_t offer; /* the chosen one */
    int arrived_protected;   /* came in on port_ps through a set of this UE */
    pc_sa_t via;             /* that set */
    char ue_addr[46];
    char replaces[96]; /* set by pc_ipsec_on_registered(): the flow whose binding now goes */
} pc_reg_sa_t;

/* A REGISTER arrived (in: as received, msg/sip: the copy to forward). Decides by mode and
 * offers, checks a protected one (source, Security-Verify), strips the sec-agree headers from
 * the copy and sets integrity-protected. 0 to go on, else a status: answered here when
 * *answered is set, else the caller answers with it. */
int pc_ipsec_on_register(pcscf_t *pc, sip_incoming_t *irq, sip_t const *in, msg_t *msg, sip_t *sip,
                         const char *flow, const char *impi, pc_reg_sa_t *r, int *answered);
/* The registrar's 401 (before ck/ik are stripped): SAs installed as TEMPORARY, Security-Server
 * added. 0, or -1 when the SAs could not be made (the caller answers 500 instead). */
int pc_ipsec_on_401(pcscf_t *pc, pc_reg_sa_t *r, const char *impi, const char *flow, msg_t *msg,
                    sip_t *sip);
/* A 2xx registered the UE (expires > 0): the set it came over becomes nb's ACTIVE one (nb->sa
 * from the binding stored for the flow, moved as TS 33.203 7.4 says), before nb is stored.
 * When the UE re-registered from a new port, r->replaces names the flow whose binding the
 * caller removes once nb is stored (its sets moved to nb). */
void pc_ipsec_on_registered(pcscf_t *pc, pc_reg_sa_t *r, pc_binding_t *nb);
/* A 2xx de-registered the UE (expires 0): its pending set, if any (the de-registration was
 * challenged and came over a new set), goes shortly too. */
void pc_ipsec_on_deregistered(pcscf_t *pc, const pc_reg_sa_t *r, const char *impi);
/* The binding ends (de-registration, expiry, reg event): its sets are removed shortly, after
 * the final response went out through them. */
void pc_ipsec_binding_gone(pcscf_t *pc, pc_binding_t *b);

/* A set of a binding restored from the state file was installed again (the state side calls
 * this, pcscf_sa_restored_f): requests to the UE leave from port_pc again, an OLD set still
 * goes at the end of its grace. arg is pc->ipsec. */
void pc_ipsec_restored(void *arg, pc_binding_t *b, pc_sa_t *sa);

/* Security-Client, Security-Verify and the sec-agree option tag of Require and Proxy-Require
 * leave a request the UE sent (they are between the UE and us, TS 24.229 5.2.2). */
int pc_ipsec_strip(msg_t *msg, sip_t *sip); /* 0, or -1 when memory ran out */

/* A request other than REGISTER from this flow (b: its binding, may be NULL): 0 when it may go
 * on; 403 when a protected UE sent it outside its SA (TS 24.229 5.2.2), or when it came to
 * port_ps from a source that is no set's port_uc, or to port_pc. */
int pc_ipsec_check_request(pcscf_t *pc, sip_incoming_t *irq, const pc_binding_t *b);
/* TS 24.229 5.2.6.3 / 5.2.7: the Record-Route entry a protected UE sees of us names the
 * protected server port, so its requests in the dialog come through its SA
 * ("sip:addr:port_ps;lr"). 1 with out set, 0 when b is not protected. */
int pc_ipsec_record_route(const pcscf_t *pc, const pc_binding_t *b, char *out, size_t len);

/* A protected UE's target: over UDP its address and port_us (requests leave from port_pc, the
 * source choice of sip_core); over TCP its port_uc, on the connection it opened to port_ps.
 * 1 with out set, 0 when b is not protected. */
int pc_ipsec_target(const pc_binding_t *b, pc_target_t *out);

#endif
