/* version.h - the release and the git commit the binary was built from. */
#ifndef HS_VERSION_H
#define HS_VERSION_H

const char *hs_version(void);     /* "0.1.0" */
const char *hs_version_git(void); /* "a1b2c3d" or "unknown" */

#endif
