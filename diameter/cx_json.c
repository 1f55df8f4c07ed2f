#include "diameter/cx_json.h"

#include <stdlib.h>

#include "common/util/hex.h"

static void set_str(json_t *o, const char *key, const char *s)
{
    if (s)
        json_object_set_new(o, key, json_string(s));
}

static void set_hex(json_t *o, const char *key, const uint8_t *p, size_t len)
{
    char buf[2 * 64 + 1];
    if (!len || len > 64)
        return;
    hex_encode(p, len, buf);
    json_object_set_new(o, key, json_string(buf));
}

static void set_int(json_t *o, const char *key, int32_t v)
{
    if (v != CX_ABSENT)
        json_object_set_new(o, key, json_integer(v));
}

static json_t *strings(char *const *list, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(list[i]));
    return a;
}

static json_t *item_json(const cx_auth_item_t *it)
{
    json_t *o = json_object();
    if (it->item_number)
        json_object_set_new(o, "item_number", json_integer(it->item_number));
    set_str(o, "scheme", it->scheme);
    set_hex(o, "authenticate", it->authenticate, it->authenticate_len);
    set_hex(o, "authorization", it->authorization, it->authorization_len);
    if (it->has_ck)
        set_hex(o, "ck", it->ck, sizeof it->ck);
    if (it->has_ik)
        set_hex(o, "ik", it->ik, sizeof it->ik);
    set_str(o, "digest_realm", it->digest_realm);
    set_str(o, "digest_algorithm", it->digest_algorithm);
    set_str(o, "digest_qop", it->digest_qop);
    set_str(o, "digest_ha1", it->digest_ha1);
    return o;
}

json_t *cx_msg_to_json(const cx_msg_t *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "command", json_string(cx_cmd_name(m->cmd)));
    if (m->result_code || m->experimental_result) {
        json_object_set_new(
            o, m->experimental_result ? "experimental_result" : "result_code",
            json_integer(m->experimental_result ? m->experimental_result : m->result_code));
        json_object_set_new(o, "result",
                            json_string(cx_result_name(m->result_code, m->experimental_result)));
    }
    set_str(o, "origin_host", m->origin_host);
    set_str(o, "origin_realm", m->origin_realm);
    set_str(o, "user_name", m->user_name);
    if (m->npublic)
        json_object_set_new(o, "public_identities", strings(m->public_ids, m->npublic));
    set_str(o, "server_name", m->server_name);
    set_int(o, "server_assignment_type", m->server_assignment_type);
    set_int(o, "user_authorization_type", m->user_authorization_type);
    if (m->auth_items)
        json_object_set_new(o, "auth_items", json_integer(m->auth_items));
    if (m->nitems) {
        json_t *a = json_array();
        for (size_t i = 0; i < m->nitems; i++)
            json_array_append_new(a, item_json(&m->items[i]));
        json_object_set_new(o, "items", a);
    }
    set_str(o, "user_data", m->user_data);
    if (m->charging_ecf || m->charging_ccf)
        json_object_set_new(o, "charging",
                            json_pack("{s:s?,s:s?}", "primary_event_cf", m->charging_ecf,
                                      "primary_ccf", m->charging_ccf));
    if (m->nmandatory || m->noptional || m->ncap_servers) {
        json_t *mand = json_array(), *opt = json_array();
        for (size_t i = 0; i < m->nmandatory; i++)
            json_array_append_new(mand, json_integer(m->mandatory_caps[i]));
        for (size_t i = 0; i < m->noptional; i++)
            json_array_append_new(opt, json_integer(m->optional_caps[i]));
        json_object_set_new(o, "server_capabilities",
                            json_pack("{s:o,s:o,s:o}", "mandatory", mand, "optional", opt,
                                      "server_names", strings(m->cap_servers, m->ncap_servers)));
    }
    if (m->reason_code != CX_ABSENT)
        json_object_set_new(
            o, "deregistration_reason",
            json_pack("{s:i,s:s?}", "code", m->reason_code, "info", m->reason_info));
    if (m->nassociated)
        json_object_set_new(o, "associated_identities", strings(m->associated_ids, m->nassociated));
    return o;
}
