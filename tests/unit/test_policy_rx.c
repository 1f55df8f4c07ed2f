/* The plain values of the Rx AAR (cscf/pcscf/policy/policy_rx.h): flow descriptions for RTP and
 * RTCP both ways, Flow-Status from the direction and port 0, Media-Type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cscf/pcscf/policy/policy_rx.h"

static policy_media_t audio(void)
{
    policy_media_t m;
    memset(&m, 0, sizeof m);
    m.number = 1;
    snprintf(m.type, sizeof m.type, "audio");
    snprintf(m.ue_addr, sizeof m.ue_addr, "192.0.2.10");
    m.ue_port = 6000;
    snprintf(m.peer_addr, sizeof m.peer_addr, "198.51.100.7");
    m.peer_port = 7000;
    snprintf(m.dir, sizeof m.dir, "sendrecv");
    return m;
}

static void flows_both_ways(void **state)
{
    (void)state;
    policy_media_t m = audio();
    rx_flow_t f[2];
    assert_int_equal(rx_flows(&m, f), 2);
    assert_int_equal(f[0].number, 1);
    assert_int_equal(f[0].usage, RX_USAGE_NO_INFORMATION);
    assert_string_equal(f[0].uplink, "permit in 17 from 192.0.2.10 6000 to 198.51.100.7 7000");
    assert_string_equal(f[0].downlink, "permit out 17 from 198.51.100.7 7000 to 192.0.2.10 6000");
    assert_int_equal(f[1].number, 2);
    assert_int_equal(f[1].usage, RX_USAGE_RTCP);
    assert_string_equal(f[1].uplink, "permit in 17 from 192.0.2.10 6001 to 198.51.100.7 7001");
    assert_string_equal(f[1].downlink, "permit out 17 from 198.51.100.7 7001 to 192.0.2.10 6001");
}

/* The offer alone: the far side is "any". */
static void far_side_unknown(void **state)
{
    (void)state;
    policy_media_t m = audio();
    m.peer_addr[0] = '\0';
    m.peer_port = 0;
    rx_flow_t f[2];
    assert_int_equal(rx_flows(&m, f), 2);
    assert_string_equal(f[0].uplink, "permit in 17 from 192.0.2.10 6000 to any");
    assert_string_equal(f[1].downlink, "permit out 17 from any to 192.0.2.10 6001");
}

static void port_zero_and_status(void **state)
{
    (void)state;
    policy_media_t m = audio();
    rx_flow_t f[2];
    assert_int_equal(rx_flow_status(&m), RX_FLOW_ENABLED);
    snprintf(m.dir, sizeof m.dir, "sendonly");
    assert_int_equal(rx_flow_status(&m), RX_FLOW_ENABLED_UPLINK);
    snprintf(m.dir, sizeof m.dir, "recvonly");
    assert_int_equal(rx_flow_status(&m), RX_FLOW_ENABLED_DOWNLINK);
    snprintf(m.dir, sizeof m.dir, "inactive");
    assert_int_equal(rx_flow_status(&m), RX_FLOW_DISABLED);
    m.port_zero = 1;
    assert_int_equal(rx_flow_status(&m), RX_FLOW_REMOVED);
    assert_int_equal(rx_flows(&m, f), 0);
}

static void media_types(void **state)
{
    (void)state;
    assert_int_equal(rx_media_type("audio"), 0);
    assert_int_equal(rx_media_type("video"), 1);
    assert_int_equal(rx_media_type("message"), 6);
    assert_int_equal(rx_media_type("image"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flows_both_ways),
        cmocka_unit_test(far_side_unknown),
        cmocka_unit_test(port_zero_and_status),
        cmocka_unit_test(media_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
