/* The N5 bodies from a policy description (cscf/pcscf/policy/n5_json.c, TS 29.514 5.6): the
 * flow descriptions of RTP and RTCP both ways from both SDPs' addresses and ports, media type
 * and flow status, bandwidth, codecs, the UE's address, the charging id, the create and the
 * update bodies, and the app session id from a Location. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/pcscf/policy/n5_json.h"

/* Alice (the UE, 192.0.2.10:40000) calls; bob's answer gave 198.51.100.7:50000. */
static policy_desc_t call(int answered)
{
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    snprintf(d.call_id, sizeof d.call_id, "c1@x");
    snprintf(d.icid, sizeof d.icid, "icid-1234");
    snprintf(d.ue_ip, sizeof d.ue_ip, "192.0.2.10");
    snprintf(d.impu, sizeof d.impu, "sip:alice@ims.example");
    d.originating = 1;
    d.answered = answered;
    d.n_media = 1;
    policy_media_t *m = &d.media[0];
    m->number = 1;
    snprintf(m->type, sizeof m->type, "audio");
    snprintf(m->proto, sizeof m->proto, "RTP/AVP");
    snprintf(m->ue_addr, sizeof m->ue_addr, "192.0.2.10");
    m->ue_port = 40000;
    if (answered) {
        snprintf(m->peer_addr, sizeof m->peer_addr, "198.51.100.7");
        m->peer_port = 50000;
        snprintf(m->codec_answer, sizeof m->codec_answer,
                 "downlink\nanswer\nm=audio 50000 RTP/AVP 0\na=rtpmap:0 PCMU/8000");
    }
    snprintf(m->dir, sizeof m->dir, "sendrecv");
    m->bw_as_kbps = 64;
    snprintf(m->codec_offer, sizeof m->codec_offer,
             "uplink\noffer\nm=audio 40000 RTP/AVP 0\na=rtpmap:0 PCMU/8000");
    return d;
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *j = root;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && j;
         k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(j))
            j = json_array_get(j, (size_t)atoi(k));
        else
            j = json_object_get(j, k);
    }
    return json_string_value(j);
}

static void flow_descriptions(void **state)
{
    char b[128];
    assert_int_equal(n5_flow_desc(b, sizeof b, 1, "192.0.2.10", 40000, "198.51.100.7", 50000),
                     strlen("permit in 17 from 192.0.2.10 40000 to 198.51.100.7 50000"));
    assert_string_equal(b, "permit in 17 from 192.0.2.10 40000 to 198.51.100.7 50000");
    n5_flow_desc(b, sizeof b, 0, "192.0.2.10", 40000, "198.51.100.7", 50000);
    assert_string_equal(b, "permit out 17 from 198.51.100.7 50000 to 192.0.2.10 40000");
    n5_flow_desc(b, sizeof b, 0, "192.0.2.10", 40001, "", 0);
    assert_string_equal(b, "permit out 17 from any to 192.0.2.10 40001");
    n5_flow_desc(b, sizeof b, 1, "2001:db8::1", 5004, NULL, 0);
    assert_string_equal(b, "permit in 17 from 2001:db8::1 5004 to any");
    assert_int_equal(n5_flow_desc(b, 20, 1, "192.0.2.10", 40000, "198.51.100.7", 50000), -1);
}

static void types_and_status(void **state)
{
    assert_string_equal(n5_med_type("audio"), "AUDIO");
    assert_string_equal(n5_med_type("video"), "VIDEO");
    assert_string_equal(n5_med_type("Text"), "TEXT");
    assert_string_equal(n5_med_type("image"), "OTHER");
    policy_media_t m = {.dir = "sendrecv"};
    assert_string_equal(n5_flow_status(&m), "ENABLED");
    snprintf(m.dir, sizeof m.dir, "sendonly");
    assert_string_equal(n5_flow_status(&m), "ENABLED-UPLINK");
    snprintf(m.dir, sizeof m.dir, "recvonly");
    assert_string_equal(n5_flow_status(&m), "ENABLED-DOWNLINK");
    snprintf(m.dir, sizeof m.dir, "inactive");
    assert_string_equal(n5_flow_status(&m), "DISABLED");
    m.port_zero = 1;
    assert_string_equal(n5_flow_status(&m), "REMOVED");
}

static void create_body(void **state)
{
    policy_desc_t d = call(0);
    n5_opts_t o = {"IMS Services", "0", "http://127.0.0.1:7778/n5-notify/v1/sessions/ab"};
    json_t *j = n5_app_session_context(&d, &o);
    assert_non_null(j);
    assert_string_equal(str_at(j, "ascReqData.notifUri"), o.notif_uri);
    assert_string_equal(str_at(j, "ascReqData.suppFeat"), "0");
    assert_string_equal(str_at(j, "ascReqData.afAppId"), "IMS Services");
    assert_string_equal(str_at(j, "ascReqData.ueIpv4"), "192.0.2.10");
    assert_null(str_at(j, "ascReqData.ueIpv6"));
    assert_string_equal(str_at(j, "ascReqData.afChargId"), "icid-1234");
    assert_string_equal(str_at(j, "ascReqData.servInfStatus"), "PRELIMINARY");
    assert_null(str_at(j, "ascReqData.gpsi")); /* a sip: URI without user=phone */
    assert_string_equal(str_at(j, "ascReqData.evSubsc.notifUri"), o.notif_uri);
    assert_string_equal(str_at(j, "ascReqData.evSubsc.events.0.event"),
                        "SUCCESSFUL_RESOURCES_ALLOCATION");
    json_t *c =
        json_object_get(json_object_get(json_object_get(j, "ascReqData"), "medComponents"), "1");
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "medCompN")), 1);
    assert_string_equal(str_at(c, "medType"), "AUDIO");
    assert_string_equal(str_at(c, "fStatus"), "ENABLED");
    assert_string_equal(str_at(c, "marBwUl"), "64 Kbps");
    assert_string_equal(str_at(c, "marBwDl"), "64 Kbps");
    assert_int_equal(json_array_size(json_object_get(c, "codecs")), 1); /* no answer yet */
    /* Before the answer the far end is unknown: "any". */
    assert_string_equal(str_at(c, "medSubComps.1.fDescs.0"),
                        "permit in 17 from 192.0.2.10 40000 to any");
    assert_string_equal(str_at(c, "medSubComps.1.fDescs.1"),
                        "permit out 17 from any to 192.0.2.10 40000");
    assert_null(str_at(c, "medSubComps.1.flowUsage"));
    json_decref(j);
}

static void answered_flows(void **state)
{
    policy_desc_t d = call(1);
    json_t *c = n5_med_components(&d);
    json_t *m = json_object_get(c, "1");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(m, "medSubComps"), "1"), "fNum")),
                     1);
    assert_string_equal(str_at(m, "medSubComps.1.fDescs.0"),
                        "permit in 17 from 192.0.2.10 40000 to 198.51.100.7 50000");
    assert_string_equal(str_at(m, "medSubComps.1.fDescs.1"),
                        "permit out 17 from 198.51.100.7 50000 to 192.0.2.10 40000");
    assert_string_equal(str_at(m, "medSubComps.2.fDescs.0"),
                        "permit in 17 from 192.0.2.10 40001 to 198.51.100.7 50001");
    assert_string_equal(str_at(m, "medSubComps.2.fDescs.1"),
                        "permit out 17 from 198.51.100.7 50001 to 192.0.2.10 40001");
    assert_string_equal(str_at(m, "medSubComps.2.flowUsage"), "RTCP");
    assert_int_equal(json_array_size(json_object_get(m, "codecs")), 2);
    assert_string_equal(str_at(m, "codecs.1"),
                        "downlink\nanswer\nm=audio 50000 RTP/AVP 0\na=rtpmap:0 PCMU/8000");
    json_decref(c);
}

static void update_body(void **state)
{
    policy_desc_t d = call(1);
    d.n_media = 2;
    policy_media_t *v = &d.media[1];
    v->number = 2;
    snprintf(v->type, sizeof v->type, "video");
    v->port_zero = 1;
    n5_opts_t o = {"", "", "http://h:1/x"};
    json_t *j = n5_update_patch(&d, &o);
    assert_string_equal(str_at(j, "ascReqData.servInfStatus"), "FINAL");
    assert_string_equal(str_at(j, "ascReqData.medComponents.1.fStatus"), "ENABLED");
    assert_string_equal(str_at(j, "ascReqData.medComponents.2.medType"), "VIDEO");
    assert_string_equal(str_at(j, "ascReqData.medComponents.2.fStatus"), "REMOVED");
    assert_null(json_object_get(
        json_object_get(json_object_get(json_object_get(j, "ascReqData"), "medComponents"), "2"),
        "medSubComps"));
    assert_null(json_object_get(json_object_get(j, "ascReqData"), "notifUri"));
    json_decref(j);
}

static void identities(void **state)
{
    policy_desc_t d = call(0);
    n5_opts_t o = {NULL, NULL, "http://h:1/x"};
    snprintf(d.ue_ip, sizeof d.ue_ip, "2001:db8::10");
    snprintf(d.impu, sizeof d.impu, "tel:+15550001");
    d.icid[0] = '\0';
    json_t *j = n5_app_session_context(&d, &o);
    assert_string_equal(str_at(j, "ascReqData.ueIpv6"), "2001:db8::10");
    assert_null(str_at(j, "ascReqData.ueIpv4"));
    assert_string_equal(str_at(j, "ascReqData.gpsi"), "msisdn-15550001");
    assert_string_equal(str_at(j, "ascReqData.suppFeat"), "0"); /* mandatory: never left out */
    assert_null(str_at(j, "ascReqData.afAppId"));
    assert_null(str_at(j, "ascReqData.afChargId"));
    json_decref(j);
    /* No signalling address: the UE's media address stands in. */
    d.ue_ip[0] = '\0';
    j = n5_app_session_context(&d, &o);
    assert_string_equal(str_at(j, "ascReqData.ueIpv4"), "192.0.2.10");
    json_decref(j);
}

static void session_ids(void **state)
{
    char id[64];
    assert_int_equal(
        n5_app_session_id("http://10.0.0.1:7777/npcf-policyauthorization/v1/app-sessions/as1", id,
                          sizeof id),
        0);
    assert_string_equal(id, "as1");
    assert_int_equal(
        n5_app_session_id("/npcf-policyauthorization/v1/app-sessions/a-b_c.9~", id, sizeof id), 0);
    assert_string_equal(id, "a-b_c.9~");
    assert_int_equal(n5_app_session_id(NULL, id, sizeof id), -1);
    assert_int_equal(
        n5_app_session_id("http://x/npcf-policyauthorization/v1/app-sessions/", id, sizeof id), -1);
    assert_int_equal(n5_app_session_id("http://x/app-sessions/a/b", id, sizeof id), -1);
    assert_int_equal(n5_app_session_id("http://x/app-sessions/a b", id, sizeof id), -1);
    assert_int_equal(n5_app_session_id("http://x/app-sessions/0123456789", id, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flow_descriptions), cmocka_unit_test(types_and_status),
        cmocka_unit_test(create_body),       cmocka_unit_test(answered_flows),
        cmocka_unit_test(update_body),       cmocka_unit_test(identities),
        cmocka_unit_test(session_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
