/* libFuzzer: the small parsers that take network or operator input: the AKA nonce, hex keys,
 * host:port addresses and Diameter peer entries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/aka.h"
#include "common/config.h"
#include "common/hex.h"
#include "diameter/fd_conf.h"

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
    free(s);
    return 0;
}
