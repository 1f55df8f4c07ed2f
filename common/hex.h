/* Hex text <-> bytes for keys and vectors (config files, REST, the vector CLI). */
#ifndef CSCF_HEX_H
#define CSCF_HEX_H

#include <stddef.h>
#include <stdint.h>

/* 0 when s is exactly 2*n hex digits (either case), -1 otherwise. */
int hex_decode(const char *s, uint8_t *out, size_t n);
/* Lowercase; out holds 2*n+1 characters. */
void hex_encode(const uint8_t *in, size_t n, char *out);

#endif
