/* The N5 back end of the policy interface: Npcf_PolicyAuthorization (3GPP TS 29.514) to a PCF
 * over HTTP/2 (h2_client.c, on the loop), and the notification URI the PCF calls back
 * (h2_server.c, on the loop). The PCF is the one in policy.n5.pcf_uri: no NRF discovery. */
#ifndef CSCF_PCSCF_POLICY_N5_H
#define CSCF_PCSCF_POLICY_N5_H

#include <stddef.h>

#include "cscf/pcscf/policy/policy.h"

#define POLICY_N5_KEY_ROWS                                                                         \
    {"policy.n5.pcf_uri",                                                                          \
     CFG_STRING,                                                                                   \
     "http://127.0.0.1:7777",                                                                      \
     "the PCF's Npcf_PolicyAuthorization apiRoot (TS 29.501 4.4.1): "                              \
     "http://ADDRESS:PORT[/prefix]; "                                                              \
     "ADDRESS numeric (IPv4, or IPv6 in brackets: no name resolution on the loop), cleartext "     \
     "HTTP/2 with prior knowledge (h2c, no TLS); no NRF discovery: the PCF is this one",           \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {"policy.n5.notify_listen",                                                                \
         CFG_ADDR,                                                                                 \
         "127.0.0.1:7778",                                                                         \
         "where the P-CSCF serves the PCF's notifications (h2c: POST {notifUri}/terminate ends "   \
         "the call, {notifUri}/notify is counted); numeric address",                               \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"policy.n5.notify_uri",                                                                   \
         CFG_STRING,                                                                               \
         "",                                                                                       \
         "the base of the notification URIs the PCF is given (http://ADDRESS:PORT as the PCF "     \
         "reaches policy.n5.notify_listen); \"\": http:// and policy.n5.notify_listen",            \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"policy.n5.af_app_id",                                                                    \
         CFG_STRING,                                                                               \
         "IMS Services",                                                                           \
         "afAppId sent in each app session (TS 29.514 AfAppId); \"\": none",                       \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
    {                                                                                              \
        "policy.n5.supp_feat", CFG_STRING, "0",                                                    \
            "suppFeat (TS 29.514 5.8, hexadecimal) sent in each app session; 0: none of the "      \
            "optional features",                                                                   \
            0, 0, NULL                                                                             \
    }

/* The constructor (policy_backend_new_f). */
int policy_n5_new(program_t *p, policy_t *pol, policy_backend_t *out, char *err, size_t errlen);
/* policy.n5.* checks for --check: the URI's form and addresses. 0, or -1 with err. */
int policy_n5_check(const cfg_t *cfg, char *err, size_t errlen);

#endif
