/* retire_split.c - retire records of any number of blobs (format in manifest.h). A record
 * costs ~20 bytes per blob, so a version of 60 000 blobs (a 10 000-part RS 4+2 multipart
 * object) would not fit one record (HS_MANIFEST_ENCODED_MAX) nor one etcd request: its blobs
 * are cut into records of at most HS_RETIRE_BLOBS_MAX. The caller puts the first record in the
 * transaction that retires them and the others, under ids of their own, before it: a record
 * whose transaction then fails is harmless, as the sweeper never deletes a blob the key's
 * current manifest references. */
#include <stdlib.h>

#include "hs/log.h"
#include "hs/manifest.h"
#include "hs/mem.h"
#include "hs/banned.h"

void hs_retire_records_split(const char *key, int64_t retired_ms,
                             const struct hs_meta_blob_loc *locs, size_t n, char ***out,
                             size_t **lens_out, size_t *n_out)
{
    size_t k = (n + HS_RETIRE_BLOBS_MAX - 1) / HS_RETIRE_BLOBS_MAX;
    char **texts = hs_xcalloc(k ? k : 1, sizeof *texts);
    size_t *lens = hs_xcalloc(k ? k : 1, sizeof *lens);
    for (size_t i = 0; i < k; i++) {
        size_t at = i * HS_RETIRE_BLOBS_MAX;
        size_t m = n - at < HS_RETIRE_BLOBS_MAX ? n - at : HS_RETIRE_BLOBS_MAX;
        struct hs_retire_record r;
        hs_retire_record_init(&r);
        r.key = hs_xstrdup(key);
        r.retired_ms = retired_ms;
        hs_retire_record_add(&r, locs + at, m);
        char why[160] = "";
        if (hs_retire_record_encode(&r, &texts[i], &lens[i], why, sizeof why) != HS_OK)
            HS_BUG("retire record of '%s' (%zu blobs): %s", key, m, why);
        hs_retire_record_release(&r);
    }
    *out = texts;
    *lens_out = lens;
    *n_out = k;
}

void hs_retire_records_free(char **texts, size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(lens);
}
