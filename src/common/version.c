/* version.c - release and git commit (vcs_tag fills HS_GIT_COMMIT at build time). */
#include "hs/version.h"

#include "version_git.h"
#include "hs/banned.h"

const char *hs_version(void)
{
    return HS_VERSION_STRING;
}

const char *hs_version_git(void)
{
    return HS_GIT_COMMIT;
}
