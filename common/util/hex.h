/* Hex text <-> bytes for keys and vectors (config files, REST, the vector CLI). */
#ifndef CSCF_HEX_H
#define CSCF_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0 when s is exactly 2*n hex digits (either case), -1 otherwise. */
int hex_decode(const char *s, uint8_t *out, size_t n);
/* Lowercase; out holds 2*n+1 characters. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* n (at most 32) random bytes from OpenSSL's CSPRNG as lowercase hex into out (2*n+1
 * characters): tokens a peer must not guess. 0, or -1 when n is too large or the RNG fails. */
int hex_random(char *out, size_t n);

#endif
