#ifndef CSCF_HSS_VECTOR_CLI_H
#define CSCF_HSS_VECTOR_CLI_H

/* argv[0] is "vector". Prints one JSON object; exit status 0, or 2 naming the bad argument. */
int hss_vector_main(int argc, char **argv);

#endif
