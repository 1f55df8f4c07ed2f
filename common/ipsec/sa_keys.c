/* TS 33.203 Annex I: the ESP keys are the AKA keys themselves, padded or repeated to the length
 * each algorithm takes; no KDF runs (so a UE and we agree without negotiating anything else). */
#include "common/ipsec/sa_keys.h"

#include <string.h>
#include <strings.h>

static const char *const alg_names[] = {
    [IPSEC_ALG_HMAC_SHA1_96] = "hmac-sha-1-96",
    [IPSEC_ALG_HMAC_MD5_96] = "hmac-md5-96",
};
static const char *const ealg_names[] = {
    [IPSEC_EALG_NULL] = "null",
    [IPSEC_EALG_AES_CBC] = "aes-cbc",
    [IPSEC_EALG_DES_EDE3_CBC] = "des-ede3-cbc",
};
#define N_ALG  (sizeof alg_names / sizeof alg_names[0])
#define N_EALG (sizeof ealg_names / sizeof ealg_names[0])

const char *ipsec_alg_name(ipsec_alg_t alg)
{
    return (unsigned)alg < N_ALG ? alg_names[alg] : NULL;
}

const char *ipsec_ealg_name(ipsec_ealg_t ealg)
{
    return (unsigned)ealg < N_EALG ? ealg_names[ealg] : NULL;
}

static int lookup(const char *name, const char *const *names, size_t n)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

int ipsec_alg_from_name(const char *name, ipsec_alg_t *out)
{
    int i = lookup(name, alg_names, N_ALG);
    if (i < 0)
        return -1;
    *out = (ipsec_alg_t)i;
    return 0;
}

int ipsec_ealg_from_name(const char *name, ipsec_ealg_t *out)
{
    int i = lookup(name, ealg_names, N_EALG);
    if (i < 0)
        return -1;
    *out = (ipsec_ealg_t)i;
    return 0;
}

size_t ipsec_alg_key_len(ipsec_alg_t alg)
{
    switch (alg) {
    case IPSEC_ALG_HMAC_SHA1_96:
        return 20;
    case IPSEC_ALG_HMAC_MD5_96:
        return 16;
    }
    return 0;
}

size_t ipsec_ealg_key_len(ipsec_ealg_t ealg)
{
    switch (ealg) {
    case IPSEC_EALG_NULL:
        return 0;
    case IPSEC_EALG_AES_CBC:
        return 16;
    case IPSEC_EALG_DES_EDE3_CBC:
        return 24;
    }
    return 0;
}

int ipsec_derive_keys(ipsec_alg_t alg, ipsec_ealg_t ealg, const uint8_t ck[IPSEC_AKA_KEY_LEN],
                      const uint8_t ik[IPSEC_AKA_KEY_LEN], ipsec_keys_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ipsec_alg_name(alg) || !ipsec_ealg_name(ealg))
        return -1;
    out->alg = alg;
    out->ealg = ealg;
    /* IK first; SHA-1's 160-bit key is IK followed by 32 zero bits, already zero from memset. */
    memcpy(out->auth_key, ik, IPSEC_AKA_KEY_LEN);
    out->auth_key_len = ipsec_alg_key_len(alg);
    switch (ealg) {
    case IPSEC_EALG_NULL:
        break;
    case IPSEC_EALG_AES_CBC:
        memcpy(out->enc_key, ck, IPSEC_AKA_KEY_LEN);
        break;
    case IPSEC_EALG_DES_EDE3_CBC:
        /* CK1 || CK2 || CK1: two-key triple DES, the third DES key repeating the first. */
        memcpy(out->enc_key, ck, IPSEC_AKA_KEY_LEN);
        memcpy(out->enc_key + IPSEC_AKA_KEY_LEN, ck, 8);
        break;
    }
    out->enc_key_len = ipsec_ealg_key_len(ealg);
    return 0;
}
