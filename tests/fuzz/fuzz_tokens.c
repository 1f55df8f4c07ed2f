/* libFuzzer: the small parsers that take network or operator input: the AKA nonce, hex keys,
 * host:port addresses, Diameter peer entries, and the URI list and address-of-record helpers
 * the proxies apply to P-Asserted-Identity and P-Associated-URI values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth/aka.h"
#include "common/ops/config.h"
#include "common/util/hex.h"
#include "common/sip/sip_hdr.h"
#include "diameter/fd_conf.h"

static int each_uri(void *ctx, const char *uri)
{
    char aor[300];
    (void)ctx;
    (void)sip_uri_aor_str(uri, aor, sizeof aor);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    uint8_t rand[16], autn[16], key[16];
    char host[256], id[256];
    int port;
    if (aka_nonce_decode(s, rand, autn) == 0) {
        char back[64];
        aka_nonce_encode(rand, autn, back, sizeof back);
        if (strcmp(back, s) != 0)
            abort(); /* decode must accept only what encode produces */
    }
    (void)hex_decode(s, key, sizeof key);
    (void)cfg_split_addr(s, host, sizeof host, &port);
    (void)fd_conf_split_peer(s, id, sizeof id, host, sizeof host, &port);
    (void)sip_uri_aor_str(s, host, sizeof host);
    (void)sip_uri_list_each(s, each_uri, NULL);
    free(s);
    return 0;
}
