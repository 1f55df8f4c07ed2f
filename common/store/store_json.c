/* store_reg_to_json(): a registration as the REST API shows it (GET /api/v1/registrations). */
#include "common/store/store.h"

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static json_t *contact_json(const store_contact_t *c, int64_t now)
{
    return json_pack(
        "{s:s?,s:s?,s:s?,s:i,s:s?,s:s?,s:s?,s:I,s:s?,s:I,s:I}", "uri", c->uri, "params", c->params,
        "instance", c->instance, "reg_id", c->reg_id, "path", c->path, "received", c->received,
        "call_id", c->call_id, "cseq", (json_int_t)c->cseq, "user_agent", c->user_agent, "expires",
        (json_int_t)(c->expires_at - now), "registered_at", (json_int_t)c->registered_at);
}

json_t *store_reg_to_json(const store_reg_t *r, int64_t now)
{
    json_t *contacts = json_array();
    for (size_t i = 0; contacts && i < r->ncontacts; i++)
        json_array_append_new(contacts, contact_json(&r->contacts[i], now));
    return json_pack("{s:s,s:o,s:o,s:s?,s:s?,s:o}", "impi", r->impi, "impus",
                     strings(r->impus, r->nimpus), "barred", strings(r->barred, r->nbarred),
                     "scheme", r->scheme, "server_name", r->server_name, "contacts", contacts);
}
