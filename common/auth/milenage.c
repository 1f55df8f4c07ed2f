#include "common/auth/milenage.h"

#include <string.h>

#include <openssl/evp.h>

/* E_K(in): one AES-128 block, no chaining, no padding. */
static int aes_block(const uint8_t k[16], const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len = 0, ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k, NULL) == 1 &&
                      EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
                      EVP_EncryptUpdate(ctx, out, &len, in, 16) == 1 && len == 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void xor16(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    for (int i = 0; i < 16; i++)
        dst[i] = a[i] ^ b[i];
}

/* TEMP = E_K(RAND xor OPc), shared by every function. */
static int temp_block(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                      uint8_t temp[16])
{
    uint8_t in[16];
    xor16(in, rand, opc);
    return aes_block(k, in, temp);
}

/* OUTn = E_K(rot(x xor OPc, r) xor c) xor OPc, with r a whole number of bytes (TS 35.206 4.1)
 * and c all zero but its last byte. */
static int out_block(const uint8_t k[16], const uint8_t opc[16], const uint8_t x[16], int r_bytes,
                     uint8_t c_last, uint8_t out[16])
{
    uint8_t in[16], rot[16];
    xor16(in, x, opc);
    for (int i = 0; i < 16; i++)
        rot[i] = in[(i + r_bytes) % 16];
    rot[15] ^= c_last;
    if (aes_block(k, rot, out) < 0)
        return -1;
    xor16(out, out, opc);
    return 0;
}

int milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16])
{
    if (aes_block(k, op, opc) < 0)
        return -1;
    xor16(opc, opc, op);
    return 0;
}

int milenage_f1(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8])
{
    uint8_t temp[16], in1[16], x[16], out1[16];
    if (temp_block(k, opc, rand, temp) < 0)
        return -1;
    /* IN1 = SQN || AMF || SQN || AMF; OUT1 rotates (IN1 xor OPc) by r1 = 64 bits, c1 = 0 */
    memcpy(in1, sqn, 6);
    memcpy(in1 + 6, amf, 2);
    memcpy(in1 + 8, in1, 8);
    uint8_t rot[16], tmp[16];
    xor16(tmp, in1, opc);
    for (int i = 0; i < 16; i++)
        rot[i] = tmp[(i + 8) % 16];
    xor16(x, temp, rot);
    if (aes_block(k, x, out1) < 0)
        return -1;
    xor16(out1, out1, opc);
    if (mac_a)
        memcpy(mac_a, out1, 8);
    if (mac_s)
        memcpy(mac_s, out1 + 8, 8);
    return 0;
}

int milenage_f2345(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                   uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                   uint8_t ak_star[6])
{
    uint8_t temp[16], out[16];
    if (temp_block(k, opc, rand, temp) < 0)
        return -1;
    /* the inputs below are TEMP xor OPc, rotated by r2..r5 = 0, 32, 64, 96 bits, with
     * c2..c5 = 1, 2, 4, 8 in the last byte; out_block() applies the xor with OPc itself */
    if (res || ak) {
        if (out_block(k, opc, temp, 0, 1, out) < 0)
            return -1;
        if (ak)
            memcpy(ak, out, 6);
        if (res)
            memcpy(res, out + 8, 8);
    }
    if (ck && out_block(k, opc, temp, 4, 2, ck) < 0)
        return -1;
    if (ik && out_block(k, opc, temp, 8, 4, ik) < 0)
        return -1;
    if (ak_star) {
        if (out_block(k, opc, temp, 12, 8, out) < 0)
            return -1;
        memcpy(ak_star, out, 6);
    }
    return 0;
}
