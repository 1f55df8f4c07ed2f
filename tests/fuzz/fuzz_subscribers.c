/* libFuzzer: the HSS subscriber file (YAML walk, schema, hex, iFC triggers and their regular
 * expressions) on arbitrary bytes; whatever loads must survive JSON and XML rendering and
 * load again from its own JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diameter/hss/subscriber.h"
#include "diameter/hss/user_data.h"

static void round_trip(const hss_subscriber_t *s)
{
    char err[256];
    json_t *j = hss_subscriber_to_json(s, 1);
    hss_subscriber_t again = {0};
    if (j && hss_subscriber_from_json(j, &again, err, sizeof err) != 0)
        abort(); /* what we print must load back */
    hss_subscriber_clear(&again);
    json_decref(j);
    free(hss_user_data_xml(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[512];
    hss_subscriber_t *subs = NULL;
    size_t n = 0;
    if (hss_subscribers_load_string("fuzz.yaml", text, &subs, &n, err, sizeof err) == 0) {
        for (size_t i = 0; i < n; i++)
            round_trip(&subs[i]);
        hss_subscribers_free(subs, n);
    }
    free(text);
    return 0;
}
