/* read.c - verified reads, header-only stat and delete. Every read checks the header and the
 * CRC32C of the whole payload before handing out the fd; anything corrupt is quarantined. */
#include "blob_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hs/log.h"
#include "hs/banned.h"

/* Opens id and checks its header against the file; corrupt files are quarantined. */
static enum hs_err open_checked(struct hs_blob_store *s, const char *id, int *fd_out,
                                struct hs_blob_header *h)
{
    if (!hs_blob_id_valid(id))
        return HS_EINVAL;
    int fd;
    enum hs_err err = hs_blob_open_id(s, id, &fd);
    if (err != HS_OK)
        return err;
    const char *problem = NULL;
    err = hs_blob_read_header(fd, id, h, NULL, &problem);
    if (err == HS_ECORRUPT)
        hs_blob_quarantine(s, id, fd, problem);
    if (err != HS_OK) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return HS_OK;
}

enum hs_err hs_blob_open_verified(struct hs_blob_store *s, const char *id, int *fd_out,
                                  int64_t *payload_offset_out, int64_t *len_out, uint32_t *crc_out)
{
    int fd;
    struct hs_blob_header h;
    enum hs_err err = open_checked(s, id, &fd, &h);
    if (err != HS_OK)
        return err;
    uint32_t crc;
    err = hs_blob_crc_file(fd, h.header_bytes, h.payload_bytes, &crc);
    if (err == HS_OK && crc != h.payload_crc) {
        HS_LOG_DEBUG("blob_crc_mismatch", "id='%s' header_crc=%08x actual_crc=%08x", id,
                     h.payload_crc, crc);
        err = HS_ECORRUPT;
    }
    if (err == HS_ECORRUPT)
        hs_blob_quarantine(s, id, fd, "payload crc mismatch");
    if (err == HS_OK && lseek(fd, h.header_bytes, SEEK_SET) < 0)
        err = hs_blob_io_error("lseek", id, errno);
    if (err != HS_OK) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    if (payload_offset_out)
        *payload_offset_out = h.header_bytes;
    if (len_out)
        *len_out = h.payload_bytes;
    if (crc_out)
        *crc_out = h.payload_crc;
    return HS_OK;
}

enum hs_err hs_blob_read_small(struct hs_blob_store *s, const char *id, int64_t max_bytes,
                               uint8_t **data_out, int64_t *len_out, uint32_t *crc_out)
{
    if (!hs_blob_id_valid(id))
        return HS_EINVAL;
    int fd;
    enum hs_err err = hs_blob_open_id(s, id, &fd);
    if (err != HS_OK)
        return err;
    struct hs_blob_header h;
    uint8_t *file = NULL;
    const char *problem = NULL;
    err = hs_blob_read_file(fd, id, max_bytes, &h, &file, &problem);
    if (err == HS_ECORRUPT)
        hs_blob_quarantine(s, id, fd, problem);
    close(fd);
    if (err != HS_OK)
        return err;
    /* The payload to the front: the caller gets one heap block it can hand on and free. */
    memmove(file, file + h.header_bytes, (size_t)h.payload_bytes);
    *data_out = file;
    *len_out = h.payload_bytes;
    if (crc_out)
        *crc_out = h.payload_crc;
    return HS_OK;
}

enum hs_err hs_blob_stat(struct hs_blob_store *s, const char *id, int64_t *len_out,
                         uint32_t *crc_out)
{
    int fd;
    struct hs_blob_header h;
    enum hs_err err = open_checked(s, id, &fd, &h);
    if (err != HS_OK)
        return err;
    close(fd);
    if (len_out)
        *len_out = h.payload_bytes;
    if (crc_out)
        *crc_out = h.payload_crc;
    return HS_OK;
}

enum hs_err hs_blob_delete(struct hs_blob_store *s, const char *id)
{
    if (!hs_blob_id_valid(id))
        return HS_EINVAL;
    char rel[HS_BLOB_REL_MAX];
    hs_blob_rel_path(id, rel);
    pthread_mutex_t *m = hs_blob_stripe(s, id);
    /* Under the lock the file cannot change between reading its length and unlinking it, so
     * the counters lose exactly what they gained. */
    pthread_mutex_lock(m);
    int fd;
    enum hs_err err = hs_blob_open_id(s, id, &fd);
    if (err == HS_OK) {
        int64_t bytes = hs_blob_counted_bytes(fd, id);
        close(fd);
        if (unlinkat(s->objects_fd, rel, 0) == 0) {
            atomic_fetch_sub(&s->blobs, 1);
            atomic_fetch_sub(&s->payload_bytes, bytes);
        } else {
            err = errno == ENOENT ? HS_ENOENT : hs_blob_io_error("unlink", rel, errno);
        }
    }
    pthread_mutex_unlock(m);
    /* No directory fsync, even with opts.fsync: a delete that a power loss undoes brings back
     * a blob nothing references any more (ids are never reused; every deleted blob was
     * replaced, rolled back, moved or collected), and the healer's orphan GC removes it again.
     * Durability of deletes costs only space until then, so it is not worth a synchronous
     * directory write per delete (an overwrite deletes 3-6 blobs). See docs/node.md. */
    return err;
}
