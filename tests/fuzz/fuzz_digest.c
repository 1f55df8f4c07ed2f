/* libFuzzer: Digest credentials (RFC 2617, RFC 3310) as the S-CSCF reads them from a REGISTER's
 * Authorization header: sofia-sip's header parser, then ours (common/auth/sip_digest.c), the
 * identities taken from them (common/sip/sip_ids.c) and the S-CSCF's check of the answer against
 * an MD5, an AKAv1 and an AKAv2 challenge (cscf/scscf/core/auth.c), with the resynchronisation
 * AUTS the registrar decodes. The input is the header's value; what parses must be
 * NUL-terminated within each field, and a username must be there. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>

#include "common/auth/sip_digest.h"
#include "common/sip/sip_ids.h"
#include "cscf/scscf/core/auth.h"

#define FIELD_OK(f) (strnlen((f), sizeof(f)) < sizeof(f))

static void check_fields(const digest_creds_t *c)
{
    if (!FIELD_OK(c->username) || !FIELD_OK(c->realm) || !FIELD_OK(c->nonce) || !FIELD_OK(c->uri) ||
        !FIELD_OK(c->response) || !FIELD_OK(c->algorithm) || !FIELD_OK(c->qop) ||
        !FIELD_OK(c->nc) || !FIELD_OK(c->cnonce) || !FIELD_OK(c->opaque) || !FIELD_OK(c->auts) ||
        !FIELD_OK(c->integrity_protected) || !*c->username)
        abort();
}

/* The S-CSCF's checks of an answer, for each kind of challenge it hands out. */
static void verify_all(const digest_creds_t *c)
{
    auth_challenge_t ch;
    memset(&ch, 0, sizeof ch);
    snprintf(ch.impi, sizeof ch.impi, "%s", c->username);
    snprintf(ch.realm, sizeof ch.realm, "%s", c->realm);
    memcpy(ch.ha1, "0123456789abcdef0123456789abcdef", 33);
    memset(ch.xres, 0x5a, sizeof ch.xres);
    ch.xres_len = 8;
    memset(ch.ck, 1, sizeof ch.ck);
    memset(ch.ik, 2, sizeof ch.ik);
    for (int s = 0; s < AUTH_SCHEMES; s++) {
        ch.scheme = (auth_scheme_t)s;
        (void)auth_verify(&ch, c, "REGISTER");
        char www[512];
        (void)auth_www_authenticate(&ch, s & 1, www, sizeof www);
    }
    auth_scheme_t sc;
    (void)auth_scheme_from_algorithm(c->algorithm, &sc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] =
        "REGISTER sip:ims.example.org SIP/2.0\r\nVia: SIP/2.0/UDP "
        "127.0.0.1:5060;branch=z9hG4bK1\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@ims.example.org>;tag=1\r\n"
        "To: <sip:alice@ims.example.org>\r\nCall-ID: fuzz\r\nCSeq: 1 REGISTER\r\n"
        "Authorization: ";
    static const char tail[] = "\r\nContent-Length: 0\r\n\r\n";
    if (size > 8192)
        return 0;
    char *text = malloc(sizeof head + size + sizeof tail);
    if (!text)
        return 0;
    memcpy(text, head, sizeof head - 1);
    memcpy(text + sizeof head - 1, data, size);
    memcpy(text + sizeof head - 1 + size, tail, sizeof tail);
    size_t len = sizeof head - 1 + size + sizeof tail - 1;
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)len);
    sip_t *sip = msg ? sip_object(msg) : NULL;
    if (sip) {
        digest_creds_t c;
        if (digest_creds_parse(sip->sip_authorization, NULL, &c) == 0) {
            check_fields(&c);
            verify_all(&c);
        }
        if (digest_creds_parse(sip->sip_authorization, "ims.example.org", &c) == 0)
            check_fields(&c);
        sip_ids_t ids;
        if (sip_register_identities(sip, "ims.example.org", &ids, &c) == SIP_IDS_OK &&
            (!*ids.impi || !FIELD_OK(ids.impi) || !FIELD_OK(ids.impu)))
            abort(); /* an IMPI whenever it says OK */
        (void)sip_ids_phrase(SIP_IDS_NO_IMPI);
    }
    if (msg)
        msg_destroy(msg);
    /* The unquoting alone, on the raw bytes, with small and exact-sized buffers. */
    char *raw = malloc(size + 1), out[64];
    if (raw) {
        memcpy(raw, data, size);
        raw[size] = '\0';
        (void)digest_unquote(raw, out, sizeof out);
        (void)digest_unquote(raw, out, 1);
        free(raw);
    }
    free(text);
    return 0;
}
