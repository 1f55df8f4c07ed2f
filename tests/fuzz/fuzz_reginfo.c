/* libFuzzer: the reginfo parser (RFC 3680 bodies the P-CSCF takes from NOTIFYs) on arbitrary
 * bytes; whatever parses must build again (as a registration with those contacts) into a
 * document that parses back with the same shape. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sip/reginfo.h"

static void round_trip(const reginfo_t *ri)
{
    if (ri->nregs == 0)
        return;
    store_reg_t *r = store_reg_new("fuzz");
    const char *aor = ri->regs[0].aor;
    if (!r || store_reg_set_impus(r, &aor, 1, NULL, 0) < 0)
        abort();
    for (size_t i = 0; i < ri->regs[0].ncontacts; i++) {
        store_contact_t *c = store_reg_add_contact(r);
        if (!c || store_contact_set(&c->uri, ri->regs[0].contacts[i].uri) < 0 ||
            store_contact_set(&c->instance, ri->regs[0].contacts[i].instance) < 0)
            abort();
        c->expires_at = 100;
    }
    char *xml = reginfo_build(r, ri->version, 1, NULL, 0, 0);
    reginfo_t again;
    if (!xml || reginfo_parse(xml, strlen(xml), &again) != 0 || again.nregs != 1 ||
        again.regs[0].ncontacts != ri->regs[0].ncontacts)
        abort(); /* what we write must parse */
    reginfo_clear(&again);
    free(xml);
    store_reg_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reginfo_t ri;
    if (reginfo_parse((const char *)data, size, &ri) == 0) {
        round_trip(&ri);
        reginfo_clear(&ri);
    }
    return 0;
}
