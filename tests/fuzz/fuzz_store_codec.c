/* libFuzzer harness for store_reg_decode() (common/store/store_codec.c): the records the
 * memory backend's journal and Redis hold, read back as hostile text. Whatever decodes must
 * encode again, and that text must decode to the same encoding (a fixed point). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    store_reg_t *r = store_reg_decode((const char *)data, size, err, sizeof err);
    if (!r)
        return 0;
    char *text = store_reg_encode(r);
    if (!text)
        abort(); /* decoded, so within the bounds: it must encode */
    store_reg_t *back = store_reg_decode(text, strlen(text), err, sizeof err);
    if (!back)
        abort();
    char *again = store_reg_encode(back);
    if (!again || strcmp(again, text) != 0)
        abort();
    free(again);
    free(text);
    store_reg_free(back);
    store_reg_free(r);
    return 0;
}
