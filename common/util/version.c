/* Rebuilt on every make (see Makefile) so the version never goes stale in other objects. */
#include "common/util/version.h"

const char cscf_version[] = CSCF_VERSION;
