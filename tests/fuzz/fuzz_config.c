/* libFuzzer: our YAML config walk (schema, types, addresses, nesting) on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ops/config.h"

static const cfg_key_t keys[] = {
    {"sip.listen", CFG_ADDR_LIST, "127.0.0.1:5060", "", 0, 0, NULL},
    {"sip.transports", CFG_LIST, "udp,tcp", "", 0, 0, NULL},
    {"sip.next_hop", CFG_SIP_URI, NULL, "", 0, 0, NULL},
    {"log.level", CFG_ENUM, "info", "", 0, 0, "error|warning|info|debug"},
    {"api.listen", CFG_ADDR, "127.0.0.1:8081", "", 0, 0, NULL},
    {"api.on", CFG_BOOL, "true", "", 0, 0, NULL},
    {"shutdown.grace_seconds", CFG_INT, "5", "", 0, 300, NULL},
    {"diameter.tls.cert", CFG_STRING, NULL, "", 0, 0, NULL},
    CFG_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cfg_key_t *const tables[] = {keys, NULL};
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[512];
    cfg_t *cfg = cfg_new("FUZZ", tables);
    if (cfg_load_string(cfg, "fuzz.yaml", text, err, sizeof err) == 0) {
        const char *const *items;
        cfg_list(cfg, "sip.listen", &items);
        (void)cfg_int(cfg, "shutdown.grace_seconds");
        (void)cfg_bool(cfg, "api.on");
    }
    cfg_free(cfg);
    free(text);
    return 0;
}
