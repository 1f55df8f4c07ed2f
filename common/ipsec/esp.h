/* ESP (RFC 4303) in transport mode for the userspace datapath: one SA's packet protection and
 * checks, with OpenSSL. Pure packet functions over caller buffers: no sockets, no allocation;
 * the SA's state is its outbound sequence number and its inbound anti-replay window.
 *
 *   packet = SPI (4) | sequence number (4) | IV | E(payload | padding | pad length | next header)
 *            | ICV (12: the HMAC over everything before it, truncated to 96 bits)
 * No extended sequence numbers (3GPP SAs are short-lived and never negotiate ESN). */
#ifndef CSCF_ESP_H
#define CSCF_ESP_H

#include <stddef.h>
#include <stdint.h>

#include "common/ipsec/sa_keys.h"

#define ESP_HDR_LEN          8 /* SPI and sequence number */
#define ESP_ICV_LEN          12
#define ESP_REPLAY_WINDOW    64
#define ESP_NEXT_HEADER_NONE 59 /* a dummy packet (RFC 4303 2.6): the caller drops it */

/* What esp_decrypt refused, kept apart so the caller can count each (bad ICV, replay, the
 * rest). Negative, so "< 0" is "not accepted". */
typedef enum esp_status {
    ESP_OK = 0,
    ESP_ERR_MALFORMED = -1,     /* too short, or a length the algorithm cannot have */
    ESP_ERR_SPI = -2,           /* not this SA's SPI */
    ESP_ERR_ICV = -3,           /* integrity check failed: forged, corrupted or wrong key */
    ESP_ERR_REPLAY = -4,        /* a duplicate, or older than the window */
    ESP_ERR_PADDING = -5,       /* authentic but its padding is wrong: a broken peer */
    ESP_ERR_SPACE = -6,         /* the output buffer is too small */
    ESP_ERR_SEQ_EXHAUSTED = -7, /* 2^32-1 packets sent: the SA must be replaced (no cycling) */
    ESP_ERR_CRYPTO = -8,        /* OpenSSL failed (or keys outside the algorithms we know) */
} esp_status_t;

/* A short lowercase name for logs and metric labels ("icv", "replay", ...). */
const char *esp_status_name(esp_status_t st);

/* RFC 4303 3.4.3 sliding window: top is the highest sequence number accepted (0: none yet);
 * bit i of bitmap is set when top - i was accepted. */
typedef struct esp_replay {
    uint32_t top;
    uint64_t bitmap;
} esp_replay_t;

/* ESP_OK when seq may be accepted (new, or in the window and not seen), ESP_ERR_REPLAY when it
 * is 0, a duplicate, or ESP_REPLAY_WINDOW or more behind top. Changes nothing. */
esp_status_t esp_replay_check(const esp_replay_t *w, uint32_t seq);
/* Record seq as accepted (after its ICV was verified): a seq ahead of top moves the window. */
void esp_replay_update(esp_replay_t *w, uint32_t seq);

typedef struct esp_sa {
    uint32_t spi;
    ipsec_keys_t keys;
    uint32_t seq_out;    /* the last sequence number sent; 0 before the first */
    esp_replay_t replay; /* inbound */
} esp_sa_t;

/* A fresh SA: counters at zero. */
void esp_sa_init(esp_sa_t *sa, uint32_t spi, const ipsec_keys_t *keys);

/* The exact packet length esp_encrypt makes of a payload of payload_len bytes (0 for an SA
 * whose ealg is outside the enum). */
size_t esp_packet_len(const esp_sa_t *sa, size_t payload_len);

/* The SPI and sequence number of a packet, for finding its SA: 0, or -1 when it is shorter than
 * the ESP header. */
int esp_peek(const uint8_t *pkt, size_t len, uint32_t *spi, uint32_t *seq);

/* The 96-bit ICV of data under the SA's integrity algorithm and key (RFC 2403/2404: the HMAC
 * truncated to its first 12 bytes): 0, or -1 when the keys name no algorithm we know. */
int esp_icv(const ipsec_keys_t *keys, const uint8_t *data, size_t len, uint8_t icv[ESP_ICV_LEN]);

/* Protect payload (the transport header and data; next_header: its IP protocol number) with the
 * next sequence number and a random IV into out (cap bytes, at least esp_packet_len()). out must
 * not overlap payload. ESP_OK and *out_len, or ESP_ERR_SPACE, _SEQ_EXHAUSTED, _CRYPTO. */
esp_status_t esp_encrypt(esp_sa_t *sa, const uint8_t *payload, size_t len, uint8_t next_header,
                         uint8_t *out, size_t cap, size_t *out_len);
/* The same with the IV given (iv: the cipher's block, unused for null): for known-answer tests
 * only, since a repeated IV leaks plaintext relations in CBC. */
esp_status_t esp_encrypt_iv(esp_sa_t *sa, const uint8_t *payload, size_t len, uint8_t next_header,
                            const uint8_t *iv, uint8_t *out, size_t cap, size_t *out_len);

/* Check and open a packet for this SA. In order: length (ESP_ERR_MALFORMED), SPI (_SPI), the ICV
 * in constant time before anything is decrypted (_ICV), the replay window (_REPLAY), then the
 * decryption into out (cap at least len bytes, always enough; else _SPACE) and its padding
 * (_PADDING). Only an accepted packet moves the window. ESP_OK: the payload is out[0..*out_len)
 * and *next_header its protocol (ESP_NEXT_HEADER_NONE: a dummy to drop). */
esp_status_t esp_decrypt(esp_sa_t *sa, const uint8_t *pkt, size_t len, uint8_t *out, size_t cap,
                         size_t *out_len, uint8_t *next_header);

#endif
