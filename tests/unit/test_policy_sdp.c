/* SDP offer/answer -> policy media components (cscf/pcscf/policy/policy_sdp.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/pcscf/policy/policy_sdp.h"

static const char offer[] = "v=0\r\n"
                            "o=- 1 1 IN IP4 192.0.2.10\r\n"
                            "s=-\r\n"
                            "c=IN IP4 192.0.2.10\r\n"
                            "b=AS:41\r\n"
                            "t=0 0\r\n"
                            "m=audio 6000 RTP/AVP 0 101\r\n"
                            "b=RS:0\r\n"
                            "b=RR:2000\r\n"
                            "a=rtpmap:0 PCMU/8000\r\n"
                            "a=rtpmap:101 telephone-event/8000\r\n"
                            "a=sendrecv\r\n"
                            "m=video 6002 RTP/AVP 96\r\n"
                            "c=IN IP4 192.0.2.11\r\n"
                            "b=AS:512\r\n"
                            "a=rtpmap:96 H264/90000\r\n";

static const char answer[] = "v=0\r\n"
                             "o=- 2 2 IN IP4 198.51.100.7\r\n"
                             "s=-\r\n"
                             "c=IN IP4 198.51.100.7\r\n"
                             "t=0 0\r\n"
                             "m=audio 7000 RTP/AVP 0\r\n"
                             "a=rtpmap:0 PCMU/8000\r\n"
                             "m=video 0 RTP/AVP 96\r\n";

/* The UE offered: its address/port on the UE side, the answer's on the far side. */
static void offer_and_answer(void **state)
{
    (void)state;
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    assert_int_equal(policy_sdp_fill(&d, offer, strlen(offer), answer, strlen(answer), 1), 0);
    assert_int_equal(d.n_media, 2);
    assert_int_equal(d.answered, 1);
    const policy_media_t *a = &d.media[0], *v = &d.media[1];
    assert_int_equal(a->number, 1);
    assert_string_equal(a->type, "audio");
    assert_string_equal(a->proto, "RTP/AVP");
    assert_string_equal(a->ue_addr, "192.0.2.10");
    assert_int_equal(a->ue_port, 6000);
    assert_string_equal(a->peer_addr, "198.51.100.7");
    assert_int_equal(a->peer_port, 7000);
    assert_string_equal(a->dir, "sendrecv");
    assert_int_equal(a->bw_as_kbps, 41); /* session-level b=AS */
    assert_int_equal(a->bw_rs, 0);
    assert_int_equal(a->bw_rr, 2000);
    assert_int_equal(a->port_zero, 0);
    assert_non_null(strstr(a->codec_offer, "uplink\noffer\nm=audio 6000 RTP/AVP 0 101\n"));
    assert_non_null(strstr(a->codec_offer, "a=rtpmap:101 telephone-event/8000\n"));
    assert_null(strstr(a->codec_offer, "m=video")); /* only its own m= line */
    assert_non_null(strstr(a->codec_answer, "downlink\nanswer\nm=audio 7000 RTP/AVP 0\n"));
    assert_int_equal(v->number, 2);
    assert_string_equal(v->ue_addr, "192.0.2.11"); /* media-level c= wins */
    assert_int_equal(v->bw_as_kbps, 512);
    assert_int_equal(v->peer_port, 0);
    assert_int_equal(v->port_zero, 1); /* rejected in the answer */
}

/* The far side offered (a terminating INVITE): the UE's SDP is the answer. */
static void terminating_answer(void **state)
{
    (void)state;
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    assert_int_equal(policy_sdp_fill(&d, answer, strlen(answer), offer, strlen(offer), 0), 0);
    assert_int_equal(d.media[0].ue_port, 7000);
    assert_int_equal(d.media[0].peer_port, 6000);
    assert_non_null(strstr(d.media[0].codec_offer, "downlink\noffer\n"));
    assert_non_null(strstr(d.media[0].codec_answer, "uplink\nanswer\n"));
}

/* Only the offer so far: preliminary, the far side unknown. */
static void offer_only(void **state)
{
    (void)state;
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    assert_int_equal(policy_sdp_fill(&d, offer, strlen(offer), NULL, 0, 1), 0);
    assert_int_equal(d.answered, 0);
    assert_int_equal(d.n_media, 2);
    assert_string_equal(d.media[0].peer_addr, "");
    assert_int_equal(d.media[0].peer_port, 0);
    assert_string_equal(d.media[0].codec_answer, "");
}

static void bad_sdp(void **state)
{
    (void)state;
    policy_desc_t d;
    memset(&d, 0, sizeof d);
    const char junk[] = "v=0\r\nthis is not sdp\r\n";
    assert_int_equal(policy_sdp_fill(&d, junk, strlen(junk), NULL, 0, 1), -1);
    const char nomedia[] = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";
    assert_int_equal(policy_sdp_fill(&d, nomedia, strlen(nomedia), NULL, 0, 1), -1);
    assert_int_equal(policy_sdp_fill(&d, NULL, 0, NULL, 0, 1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offer_and_answer),
        cmocka_unit_test(terminating_answer),
        cmocka_unit_test(offer_only),
        cmocka_unit_test(bad_sdp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
