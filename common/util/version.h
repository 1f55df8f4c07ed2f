#ifndef CSCF_VERSION_H
#define CSCF_VERSION_H

extern const char cscf_version[]; /* `git describe` of the build */

#endif
