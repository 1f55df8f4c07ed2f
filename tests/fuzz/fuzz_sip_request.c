/* libFuzzer: the SIP request handlers of the pcscf and the scscf, fed raw messages. Each input is
 * one datagram sent to both nodes, which run in this process on one loop as the programs run
 * them: the scscf as tests/unit/scscf_fixture.h builds it (registrar, reg-event, routing and
 * ISC on a real nta agent on 127.0.0.1, the HSS played by cx_client_fake(), the memory store) and
 * the pcscf from its own program definition (cscf/pcscf/main.c with its configuration keys, its
 * registrar being that scscf). alice is registered first, so terminating requests find her.
 *
 * Why an nta agent on loopback rather than handing parsed messages to the handlers: the
 * handlers take nta server transactions (sip_incoming_t), which only an agent makes from bytes
 * it received; going through the agent also runs sofia-sip's parser and sip_core's checks as
 * in production. The cost is a loopback datagram per input and state that outlives an input
 * (registrations, transactions), so a crash may need the inputs before it: libFuzzer's
 * -runs/-seed replay or the crash input alone usually reproduces it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/program/program_internal.h"
#include "cscf/scscf/routing/unreg.h"
#include "tests/unit/scscf_fixture.h"

/* The pcscf's program definition and handlers, as its main.c has them. */
#define main pcscf_program_main
#include "cscf/pcscf/main.c"
#undef main

static fx_t *sc;                 /* the scscf (and the UE socket the inputs come from) */
static program_t pc;             /* the pcscf */
static cfg_key_t *pc_owned[3];   /* its key tables, as program_schema() made them */
static int pc_port;              /* its SIP port */
static char pc_yaml[512];        /* its configuration */
static struct sockaddr_in to_pc; /* where its datagrams go */

static int start_pcscf(void)
{
    char err[256] = "";
    pc_port = test_free_port();
    snprintf(pc_yaml, sizeof pc_yaml,
             "sip:\n  listen: [\"127.0.0.1:%d\"]\n  transports: [udp]\n  domain: " FX_DOMAIN "\n"
             "pcscf:\n  registrar: \"sip:127.0.0.1:%d;lr\"\nlog:\n  level: error\n",
             pc_port, sc->port);
    pc.def = &pcscf;
    pc.cfg = program_schema(&pcscf, pc_owned, 3);
    if (!pc.cfg || cfg_load_string(pc.cfg, "fuzz.yaml", pc_yaml, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz: pcscf config: %s\n", err);
        return -1;
    }
    const char *const *listen, *const *transports;
    sip_core_config_t c = {.domain = FX_DOMAIN,
                           .max_message_size = 65536,
                           .max_pending = 100,
                           .server = "pcscf/fuzz",
                           .allow = pcscf.allow,
                           .supported = pcscf.supported,
                           .accept = pcscf.accept};
    c.nlisten = (size_t)cfg_list(pc.cfg, "sip.listen", &listen);
    c.ntransports = (size_t)cfg_list(pc.cfg, "sip.transports", &transports);
    c.listen = listen;
    c.transports = transports;
    api_config_t ac = {.listen = "127.0.0.1:0"};
    pc.root = sc->root;
    pc.queue = sc->queue;
    pc.metrics = metrics_new();
    pc.api = api_new(&ac);
    pc.sip = sip_core_new(pc.root, &c, pc.metrics, on_request, &pc);
    if (!pc.metrics || !pc.api || !pc.sip || pcscf_init(&pc) < 0)
        return -1;
    to_pc = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)pc_port)};
    to_pc.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

/* Runs the loop until it has nothing left to do at once; what reaches the UE is dropped. */
static void settle(void)
{
    char buf[65536];
    for (int i = 0; i < 8; i++) {
        su_root_step(sc->root, 0);
        while (recv(sc->sock, buf, sizeof buf, MSG_DONTWAIT) > 0)
            i = 0 < i ? i - 1 : 0; /* something came: the nodes may still be busy */
    }
}

static int setup(void)
{
    log_set_level(LOG_ERROR);
    /* routing as the scscf's init sets it up: ISC, and the unregistered-user lookups */
    if (!(sc = fx_new(NULL)) || fx_enable_routing(sc) < 0 || !(sc->s.unreg = unreg_new(&sc->s)) ||
        start_pcscf() < 0)
        return -1;
    char *r = fx_register_auth(sc, "Contact: <sip:alice@127.0.0.1:9>;expires=3600\r\n");
    if (!r || strncmp(r, "SIP/2.0 200", 11) != 0) {
        fprintf(stderr, "fuzz: alice did not register: %s\n", r ? r : "no answer");
        free(r);
        return -1;
    }
    free(r);
    store_reg_t *stored = fx_stored(sc, FX_IMPU);
    if (!stored)
        return -1;
    store_reg_free(stored);
    fx_drop_msgs(sc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (setup() < 0)
            abort();
        ready = 1;
    }
    if (size == 0 || size > 65000)
        return 0;
    struct sockaddr_in to_sc = {.sin_family = AF_INET, .sin_port = htons((uint16_t)sc->port)};
    to_sc.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)sendto(sc->sock, data, size, 0, (struct sockaddr *)&to_sc, sizeof to_sc);
    (void)sendto(sc->sock, data, size, 0, (struct sockaddr *)&to_pc, sizeof to_pc);
    settle();
    return 0;
}
