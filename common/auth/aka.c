#include "common/auth/aka.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/util/hex.h"
#include "common/auth/milenage.h"

int aka_vector_make(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t sqn[6], const uint8_t amf[2], aka_vector_t *v)
{
    uint8_t mac_a[8];
    memcpy(v->rand, rand, 16);
    if (milenage_f1(k, opc, rand, sqn, amf, mac_a, NULL) < 0 ||
        milenage_f2345(k, opc, rand, v->xres, v->ck, v->ik, v->ak, NULL) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        v->autn[i] = sqn[i] ^ v->ak[i];
    memcpy(v->autn + 6, amf, 2);
    memcpy(v->autn + 8, mac_a, 8);
    return 0;
}

static const uint8_t resync_amf[2] = {0, 0};

int aka_auts_verify(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t auts[14], uint8_t sqn_ms[6])
{
    uint8_t ak_star[6], sqn[6], mac_s[8];
    if (milenage_f2345(k, opc, rand, NULL, NULL, NULL, NULL, ak_star) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        sqn[i] = auts[i] ^ ak_star[i];
    if (milenage_f1(k, opc, rand, sqn, resync_amf, NULL, mac_s) < 0 ||
        CRYPTO_memcmp(mac_s, auts + 6, 8) != 0)
        return -1;
    memcpy(sqn_ms, sqn, 6);
    return 0;
}

int aka_auts_make(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                  const uint8_t sqn_ms[6], uint8_t auts[14])
{
    uint8_t ak_star[6];
    if (milenage_f2345(k, opc, rand, NULL, NULL, NULL, NULL, ak_star) < 0 ||
        milenage_f1(k, opc, rand, sqn_ms, resync_amf, NULL, auts + 6) < 0)
        return -1;
    for (int i = 0; i < 6; i++)
        auts[i] = sqn_ms[i] ^ ak_star[i];
    return 0;
}

/* MD5 over the parts joined by ':' (each part: bytes, length), as lowercase hex. */
static void md5_hex(const void *const *parts, const size_t *lens, size_t n, char out[33])
{
    uint8_t d[16];
    unsigned dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    for (size_t i = 0; i < n; i++) {
        if (i)
            EVP_DigestUpdate(ctx, ":", 1);
        EVP_DigestUpdate(ctx, parts[i], lens[i]);
    }
    EVP_DigestFinal_ex(ctx, d, &dlen);
    EVP_MD_CTX_free(ctx);
    hex_encode(d, 16, out);
}

void aka_digest_response_ha1(const char ha1[32], const char *method, const char *uri,
                             const char *nonce, const char *nc, const char *cnonce, const char *qop,
                             char out[33])
{
    char ha2[33];
    md5_hex((const void *[]){method, uri}, (size_t[]){strlen(method), strlen(uri)}, 2, ha2);
    if (qop && *qop)
        md5_hex((const void *[]){ha1, nonce, nc, cnonce, qop, ha2},
                (size_t[]){32, strlen(nonce), strlen(nc), strlen(cnonce), strlen(qop), 32}, 6, out);
    else
        md5_hex((const void *[]){ha1, nonce, ha2}, (size_t[]){32, strlen(nonce), 32}, 3, out);
}

void aka_digest_response(const char *username, const char *realm, const uint8_t *password,
                         size_t password_len, const char *method, const char *uri,
                         const char *nonce, const char *nc, const char *cnonce, const char *qop,
                         char out[33])
{
    char ha1[33];
    md5_hex((const void *[]){username, realm, password},
            (size_t[]){strlen(username), strlen(realm), password_len}, 3, ha1);
    aka_digest_response_ha1(ha1, method, uri, nonce, nc, cnonce, qop, out);
}

int aka_v2_password(const uint8_t *xres, size_t xres_len, const uint8_t ik[16],
                    const uint8_t ck[16], char *out, size_t outlen)
{
    static const char label[] = "http-digest-akav2-password";
    uint8_t key[16 + 32], mac[16];
    unsigned maclen = 0;
    if (xres_len > 16 || outlen < 25)
        return -1;
    memcpy(key, xres, xres_len);
    memcpy(key + xres_len, ik, 16);
    memcpy(key + xres_len + 16, ck, 16);
    if (!HMAC(EVP_md5(), key, (int)(xres_len + 32), (const uint8_t *)label, sizeof label - 1, mac,
              &maclen))
        return -1;
    EVP_EncodeBlock((unsigned char *)out, mac, 16);
    return 0;
}

int aka_nonce_encode(const uint8_t rand[16], const uint8_t autn[16], char *out, size_t outlen)
{
    uint8_t both[32];
    if (outlen < 45)
        return -1;
    memcpy(both, rand, 16);
    memcpy(both + 16, autn, 16);
    EVP_EncodeBlock((unsigned char *)out, both, 32);
    return 0;
}

int aka_nonce_decode(const char *nonce, uint8_t rand[16], uint8_t autn[16])
{
    uint8_t buf[36];
    char canon[48];
    /* 32 bytes are 44 characters with one '=' of padding; anything else is not our nonce. */
    if (!nonce || strlen(nonce) != 44 ||
        EVP_DecodeBlock(buf, (const unsigned char *)nonce, 44) != 33)
        return -1;
    /* OpenSSL's decoder tolerates text we would never send ('=' inside, stray low bits); only
     * the exact encoding of what it decoded is a nonce of ours. */
    EVP_EncodeBlock((unsigned char *)canon, buf, 32);
    if (strcmp(canon, nonce) != 0)
        return -1;
    memcpy(rand, buf, 16);
    memcpy(autn, buf + 16, 16);
    return 0;
}
