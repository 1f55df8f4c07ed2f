/* 3GPP TS 35.206 Milenage: the authentication functions f1, f1*, f2, f3, f4, f5, f5* on AES-128
 * (OpenSSL). All return 0, or -1 when OpenSSL fails. Outputs passed as NULL are not computed. */
#ifndef CSCF_MILENAGE_H
#define CSCF_MILENAGE_H

#include <stdint.h>

/* OPc = E_K(OP) xor OP */
int milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16]);

/* f1 (MAC-A) and f1* (MAC-S, for resynchronisation). */
int milenage_f1(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8]);

/* f2 (RES), f3 (CK), f4 (IK), f5 (AK) and f5* (AK for resynchronisation). */
int milenage_f2345(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                   uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                   uint8_t ak_star[6]);

#endif
