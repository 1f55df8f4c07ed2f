/* RFC 4303 transport-mode ESP with RFC 2403/2404 HMAC-96 and RFC 3602/2451 CBC ciphers (RFC 2410
 * null). The receive path authenticates before it decrypts, so a forged packet never reaches
 * the cipher or the padding checks (no padding oracle), and the window moves only for packets
 * that passed every check. */
#include "common/ipsec/esp.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* How an encryption algorithm shapes the packet: the IV it carries and the block the encrypted
 * part is a multiple of (null: RFC 4303 2.4's 4-byte alignment). */
typedef struct shape {
    size_t iv_len, block;
} shape_t;

static int shape_of(ipsec_ealg_t ealg, shape_t *s)
{
    switch (ealg) {
    case IPSEC_EALG_NULL:
        *s = (shape_t){0, 4};
        return 0;
    case IPSEC_EALG_AES_CBC:
        *s = (shape_t){16, 16};
        return 0;
    case IPSEC_EALG_DES_EDE3_CBC:
        *s = (shape_t){8, 8};
        return 0;
    }
    return -1;
}

static const EVP_CIPHER *cipher_of(ipsec_ealg_t ealg)
{
    switch (ealg) {
    case IPSEC_EALG_AES_CBC:
        return EVP_aes_128_cbc();
    case IPSEC_EALG_DES_EDE3_CBC:
        return EVP_des_ede3_cbc();
    case IPSEC_EALG_NULL:
        break;
    }
    return NULL;
}

static const char *digest_of(ipsec_alg_t alg)
{
    switch (alg) {
    case IPSEC_ALG_HMAC_SHA1_96:
        return "SHA1";
    case IPSEC_ALG_HMAC_MD5_96:
        return "MD5";
    }
    return NULL;
}

const char *esp_status_name(esp_status_t st)
{
    switch (st) {
    case ESP_OK:
        return "ok";
    case ESP_ERR_MALFORMED:
        return "malformed";
    case ESP_ERR_SPI:
        return "spi";
    case ESP_ERR_ICV:
        return "icv";
    case ESP_ERR_REPLAY:
        return "replay";
    case ESP_ERR_PADDING:
        return "padding";
    case ESP_ERR_SPACE:
        return "space";
    case ESP_ERR_SEQ_EXHAUSTED:
        return "seq_exhausted";
    case ESP_ERR_CRYPTO:
        return "crypto";
    }
    return "unknown";
}

esp_status_t esp_replay_check(const esp_replay_t *w, uint32_t seq)
{
    if (seq == 0) /* never sent: the first packet is 1 (RFC 4303 3.3.3) */
        return ESP_ERR_REPLAY;
    if (seq > w->top)
        return ESP_OK;
    uint32_t behind = w->top - seq;
    if (behind >= ESP_REPLAY_WINDOW)
        return ESP_ERR_REPLAY;
    return (w->bitmap >> behind) & 1 ? ESP_ERR_REPLAY : ESP_OK;
}

void esp_replay_update(esp_replay_t *w, uint32_t seq)
{
    if (seq > w->top) {
        uint32_t ahead = seq - w->top;
        w->bitmap = ahead >= ESP_REPLAY_WINDOW ? 1 : (w->bitmap << ahead) | 1;
        w->top = seq;
    } else if (w->top - seq < ESP_REPLAY_WINDOW) {
        w->bitmap |= (uint64_t)1 << (w->top - seq);
    }
}

void esp_sa_init(esp_sa_t *sa, uint32_t spi, const ipsec_keys_t *keys)
{
    memset(sa, 0, sizeof *sa);
    sa->spi = spi;
    sa->keys = *keys;
}

/* payload + padding + pad length + next header, rounded up to the block. */
static size_t encrypted_len(const shape_t *s, size_t payload_len)
{
    return (payload_len + 2 + s->block - 1) / s->block * s->block;
}

size_t esp_packet_len(const esp_sa_t *sa, size_t payload_len)
{
    shape_t s;
    if (shape_of(sa->keys.ealg, &s) < 0)
        return 0;
    return ESP_HDR_LEN + s.iv_len + encrypted_len(&s, payload_len) + ESP_ICV_LEN;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int esp_peek(const uint8_t *pkt, size_t len, uint32_t *spi, uint32_t *seq)
{
    if (!pkt || len < ESP_HDR_LEN)
        return -1;
    *spi = get32(pkt);
    *seq = get32(pkt + 4);
    return 0;
}

/* The full HMAC of data into md (at least EVP_MAX_MD_SIZE); its first 12 bytes are the ICV. */
static int hmac(const ipsec_keys_t *k, const uint8_t *data, size_t len, uint8_t *md)
{
    const char *digest = digest_of(k->alg);
    size_t md_len = 0;
    if (!digest || k->auth_key_len == 0)
        return -1;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, k->auth_key, k->auth_key_len, data, len, md,
                   EVP_MAX_MD_SIZE, &md_len) ||
        md_len < ESP_ICV_LEN)
        return -1;
    return 0;
}

int esp_icv(const ipsec_keys_t *keys, const uint8_t *data, size_t len, uint8_t icv[ESP_ICV_LEN])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    if (hmac(keys, data, len, md) < 0)
        return -1;
    memcpy(icv, md, ESP_ICV_LEN);
    return 0;
}

/* CBC over n bytes (a multiple of the block) from in to out (may be the same buffer), no
 * padding of OpenSSL's own: ESP pads itself. null copies. */
static int cipher(const ipsec_keys_t *k, int enc, const uint8_t *iv, const uint8_t *in, size_t n,
                  uint8_t *out)
{
    const EVP_CIPHER *c = cipher_of(k->ealg);
    if (!c) {
        if (k->ealg != IPSEC_EALG_NULL)
            return -1;
        memmove(out, in, n);
        return 0;
    }
    if (k->enc_key_len != (size_t)EVP_CIPHER_get_key_length(c) || n > INT32_MAX)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, fin = 0,
        ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, k->enc_key, iv, enc) &&
             EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_CipherUpdate(ctx, out, &len, in, (int)n) &&
             EVP_CipherFinal_ex(ctx, out + len, &fin) && (size_t)(len + fin) == n;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

esp_status_t esp_encrypt_iv(esp_sa_t *sa, const uint8_t *payload, size_t len, uint8_t next_header,
                            const uint8_t *iv, uint8_t *out, size_t cap, size_t *out_len)
{
    shape_t s;
    uint8_t md[EVP_MAX_MD_SIZE];
    if (shape_of(sa->keys.ealg, &s) < 0)
        return ESP_ERR_CRYPTO;
    size_t enc_len = encrypted_len(&s, len), total = esp_packet_len(sa, len);
    if (total < len || cap < total) /* total < len: the sum wrapped */
        return ESP_ERR_SPACE;
    if (sa->seq_out == UINT32_MAX) /* RFC 4303 3.3.3: never cycle without ESN */
        return ESP_ERR_SEQ_EXHAUSTED;
    uint32_t seq = sa->seq_out + 1;

    uint8_t *body = out + ESP_HDR_LEN + s.iv_len;
    put32(out, sa->spi);
    put32(out + 4, seq);
    memcpy(out + ESP_HDR_LEN, iv, s.iv_len);
    memcpy(body, payload, len);
    size_t pad = enc_len - len - 2;
    for (size_t i = 0; i < pad; i++) /* RFC 4303 2.4: 1, 2, 3, ... */
        body[len + i] = (uint8_t)(i + 1);
    body[enc_len - 2] = (uint8_t)pad;
    body[enc_len - 1] = next_header;
    if (cipher(&sa->keys, 1, out + ESP_HDR_LEN, body, enc_len, body) < 0 ||
        hmac(&sa->keys, out, ESP_HDR_LEN + s.iv_len + enc_len, md) < 0)
        return ESP_ERR_CRYPTO;
    memcpy(body + enc_len, md, ESP_ICV_LEN);
    sa->seq_out = seq;
    *out_len = total;
    return ESP_OK;
}

esp_status_t esp_encrypt(esp_sa_t *sa, const uint8_t *payload, size_t len, uint8_t next_header,
                         uint8_t *out, size_t cap, size_t *out_len)
{
    shape_t s;
    uint8_t iv[16];
    if (shape_of(sa->keys.ealg, &s) < 0)
        return ESP_ERR_CRYPTO;
    if (s.iv_len > 0 && RAND_bytes(iv, (int)s.iv_len) != 1)
        return ESP_ERR_CRYPTO;
    return esp_encrypt_iv(sa, payload, len, next_header, iv, out, cap, out_len);
}

/* The padding RFC 4303 2.4 prescribes (1, 2, 3, ...) and that it fits: anything else is a
 * sender we do not understand. */
static int padding_ok(const uint8_t *plain, size_t n)
{
    size_t pad = plain[n - 2];
    if (pad > n - 2)
        return 0;
    for (size_t i = 0; i < pad; i++)
        if (plain[n - 2 - pad + i] != (uint8_t)(i + 1))
            return 0;
    return 1;
}

esp_status_t esp_decrypt(esp_sa_t *sa, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len, uint8_t *next_header)
{
    shape_t s;
    uint32_t spi, seq;
    uint8_t md[EVP_MAX_MD_SIZE];
    if (shape_of(sa->keys.ealg, &s) < 0)
        return ESP_ERR_CRYPTO;
    if (esp_peek(pkt, len, &spi, &seq) < 0 || len < ESP_HDR_LEN + s.iv_len + 2 + ESP_ICV_LEN)
        return ESP_ERR_MALFORMED;
    size_t enc_len = len - ESP_HDR_LEN - s.iv_len - ESP_ICV_LEN;
    if (enc_len % s.block != 0)
        return ESP_ERR_MALFORMED;
    if (spi != sa->spi)
        return ESP_ERR_SPI;
    /* Authenticate first: nothing of a forged packet is decrypted or looked at. The window is
     * checked after, so a replay counted is an authentic packet seen again, not noise. */
    if (hmac(&sa->keys, pkt, len - ESP_ICV_LEN, md) < 0)
        return ESP_ERR_CRYPTO;
    if (CRYPTO_memcmp(md, pkt + len - ESP_ICV_LEN, ESP_ICV_LEN) != 0)
        return ESP_ERR_ICV;
    if (esp_replay_check(&sa->replay, seq) != ESP_OK)
        return ESP_ERR_REPLAY;
    if (cap < enc_len)
        return ESP_ERR_SPACE;
    if (cipher(&sa->keys, 0, pkt + ESP_HDR_LEN, pkt + ESP_HDR_LEN + s.iv_len, enc_len, out) < 0)
        return ESP_ERR_CRYPTO;
    if (!padding_ok(out, enc_len))
        return ESP_ERR_PADDING;
    esp_replay_update(&sa->replay, seq);
    *out_len = enc_len - 2 - out[enc_len - 2];
    *next_header = out[enc_len - 1];
    return ESP_OK;
}
