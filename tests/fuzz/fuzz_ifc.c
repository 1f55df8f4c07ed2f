/* libFuzzer: the S-CSCF's iFC parse (User-Data XML from the HSS) on arbitrary bytes; whatever
 * loads is matched, for every session case, against one request that has a header of each kind
 * sofia knows or not, a Request-URI and an SDP body, resuming after each match as the S-CSCF
 * does when a request comes back from an AS. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "cscf/scscf/routing/ifc.h"

static const char request_text[] =
    "INVITE sip:bob@ims.test;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n"
    "Route: <sip:orig@scscf.ims.test;lr>, <sip:as.ims.test;lr>\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@ims.test>;tag=a1\r\n"
    "To: <tel:+15550002>\r\n"
    "Call-ID: c1@10.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@10.0.0.1:5060>;+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi."
    "mmtel\"\r\n"
    "P-Asserted-Identity: <sip:alice@ims.test>\r\n"
    "X-Foo: bar\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 58\r\n"
    "\r\n"
    "v=0\r\n"
    "c=IN IP4 10.0.0.1\r\n"
    "m=audio 49170 RTP/AVP 0\r\n"
    "b=AS:64\r\n";

static msg_t *request;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    request = msg_make(sip_default_mclass(), 0, request_text, sizeof request_text - 1);
    if (!request || !sip_object(request)->sip_request || !sip_object(request)->sip_payload)
        abort();
    return 0;
}

static void match_all(const ifc_list_t *l, const sip_t *sip)
{
    size_t n = ifc_list_count(l);
    for (int sc = IFC_ORIG; sc <= IFC_ORIG_CDIV; sc++) {
        for (int i = ifc_next_match(l, 0, (ifc_case_t)sc, sip); i >= 0;
             i = ifc_next_match(l, (size_t)i + 1, (ifc_case_t)sc, sip)) {
            const ifc_as_t *as = ifc_get_as(l, (size_t)i);
            if ((size_t)i >= n || !as || !as->server_name || !*as->server_name)
                abort(); /* every iFC that matches has an application server */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ifc_list_t *l = ifc_list_parse((const char *)data, size, err, sizeof err);
    if (l)
        match_all(l, sip_object(request));
    ifc_list_free(l);
    return 0;
}
