/* `hss vector`: one AKA vector from a SIM's keys, so an operator can check a card by hand. */
#include "diameter/hss/vector_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/auth/aka.h"
#include "common/util/hex.h"
#include "common/auth/milenage.h"

typedef struct vector_args {
    const char *k, *op, *opc, *rand, *sqn, *amf, *sqn_ms;
} vector_args_t;

static int usage(void)
{
    fprintf(stderr, "usage: hss vector --k HEX32 (--opc HEX32 | --op HEX32) --rand HEX32 "
                    "--sqn HEX12 [--amf HEX4] [--sqn-ms HEX12]\n"
                    "  --sqn-ms: also print the AUTS a handset at SQN_MS would answer to RAND\n");
    return 2;
}

static int parse(int argc, char **argv, vector_args_t *a)
{
    static const struct option opts[] = {
        {"k", required_argument, NULL, 'k'},      {"op", required_argument, NULL, 'o'},
        {"opc", required_argument, NULL, 'c'},    {"rand", required_argument, NULL, 'r'},
        {"sqn", required_argument, NULL, 's'},    {"amf", required_argument, NULL, 'a'},
        {"sqn-ms", required_argument, NULL, 'm'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            a->k = optarg;
            break;
        case 'o':
            a->op = optarg;
            break;
        case 'c':
            a->opc = optarg;
            break;
        case 'r':
            a->rand = optarg;
            break;
        case 's':
            a->sqn = optarg;
            break;
        case 'a':
            a->amf = optarg;
            break;
        case 'm':
            a->sqn_ms = optarg;
            break;
        default:
            return -1;
        }
    }
    return optind == argc && a->k && a->rand && a->sqn && (!a->op != !a->opc) ? 0 : -1;
}

/* Decodes one field, naming it on error. */
static int field(const char *name, const char *hex, uint8_t *out, size_t n)
{
    if (hex_decode(hex, out, n) == 0)
        return 0;
    fprintf(stderr, "hss vector: --%s: expected %zu hex digits, got '%s'\n", name, 2 * n, hex);
    return -1;
}

static void put_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
    char hex[65];
    hex_encode(b, n, hex);
    json_object_set_new(o, key, json_string(hex));
}

int hss_vector_main(int argc, char **argv)
{
    vector_args_t a = {.amf = "8000"};
    uint8_t k[16], op[16], opc[16], rand[16], sqn[6], amf[2], sqn_ms[6], auts[14];
    if (parse(argc, argv, &a) < 0)
        return usage();
    if (field("k", a.k, k, 16) ||
        (a.op ? field("op", a.op, op, 16) : field("opc", a.opc, opc, 16)) ||
        field("rand", a.rand, rand, 16) || field("sqn", a.sqn, sqn, 6) ||
        field("amf", a.amf, amf, 2) || (a.sqn_ms && field("sqn-ms", a.sqn_ms, sqn_ms, 6)))
        return 2;
    aka_vector_t v;
    if ((a.op && milenage_opc(k, op, opc) < 0) || aka_vector_make(k, opc, rand, sqn, amf, &v) < 0) {
        fprintf(stderr, "hss vector: the crypto library failed\n");
        return 1;
    }
    json_t *o = json_object();
    put_hex(o, "rand", v.rand, 16);
    put_hex(o, "autn", v.autn, 16);
    put_hex(o, "xres", v.xres, 8);
    put_hex(o, "ck", v.ck, 16);
    put_hex(o, "ik", v.ik, 16);
    put_hex(o, "ak", v.ak, 6);
    put_hex(o, "opc", opc, 16);
    if (a.sqn_ms) {
        if (aka_auts_make(k, opc, rand, sqn_ms, auts) < 0) {
            json_decref(o);
            fprintf(stderr, "hss vector: the crypto library failed\n");
            return 1;
        }
        put_hex(o, "auts", auts, 14);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    puts(text ? text : "{}");
    free(text);
    json_decref(o);
    return 0;
}
