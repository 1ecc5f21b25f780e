/* xml_write.c - the XML writer of S3 responses: elements, escaping, a stack of open names.
 * It writes no indentation (S3 does not either) and no attributes but xmlns. */
#include "hs/s3_xml.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hs/banned.h"

static void put(struct hs_s3_xml *x, const char *s, size_t n)
{
    if (x->err == HS_OK)
        x->err = hs_buf_append(x->out, s, n);
}

static void puts_(struct hs_s3_xml *x, const char *s)
{
    put(x, s, strlen(s));
}

enum hs_err hs_s3_xml_escape(struct hs_buf *out, const char *text, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0; /* start of the pending run of bytes that need no escaping */
    enum hs_err err = HS_OK;
    for (size_t i = 0; i < len && err == HS_OK; i++) {
        unsigned char c = (unsigned char)text[i];
        const char *rep = NULL;
        char ctl[7];
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                /* &#xN; keeps tab, CR and LF intact through parsers' normalisation; NUL
                 * cannot be represented in XML at all, so it is dropped. */
                if (c == 0) {
                    ctl[0] = '\0';
                } else {
                    ctl[0] = '&';
                    ctl[1] = '#';
                    ctl[2] = 'x';
                    ctl[3] = hex[c >> 4];
                    ctl[4] = hex[c & 15];
                    ctl[5] = ';';
                    ctl[6] = '\0';
                }
                rep = ctl;
            }
            break;
        }
        if (rep == NULL)
            continue;
        if (i > run)
            err = hs_buf_append(out, text + run, i - run);
        if (err == HS_OK)
            err = hs_buf_append(out, rep, strlen(rep));
        run = i + 1;
    }
    if (err == HS_OK && len > run)
        err = hs_buf_append(out, text + run, len - run);
    return err;
}

void hs_s3_xml_begin(struct hs_s3_xml *x, struct hs_buf *out)
{
    memset(x, 0, sizeof *x);
    x->out = out;
    puts_(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
}

void hs_s3_xml_open(struct hs_s3_xml *x, const char *name, const char *xmlns)
{
    if (x->err != HS_OK)
        return;
    if (x->depth >= HS_S3_XML_DEPTH_MAX) {
        x->err = HS_EINVAL;
        return;
    }
    x->stack[x->depth++] = name;
    put(x, "<", 1);
    puts_(x, name);
    if (xmlns != NULL) {
        puts_(x, " xmlns=\"");
        if (x->err == HS_OK)
            x->err = hs_s3_xml_escape(x->out, xmlns, strlen(xmlns));
        put(x, "\"", 1);
    }
    put(x, ">", 1);
}

void hs_s3_xml_close(struct hs_s3_xml *x)
{
    if (x->err != HS_OK)
        return;
    if (x->depth == 0) {
        x->err = HS_EINVAL;
        return;
    }
    const char *name = x->stack[--x->depth];
    put(x, "</", 2);
    puts_(x, name);
    put(x, ">", 1);
}

void hs_s3_xml_elem_n(struct hs_s3_xml *x, const char *name, const char *text, size_t len)
{
    if (x->err != HS_OK)
        return;
    put(x, "<", 1);
    puts_(x, name);
    put(x, ">", 1);
    if (x->err == HS_OK && len > 0)
        x->err = hs_s3_xml_escape(x->out, text, len);
    put(x, "</", 2);
    puts_(x, name);
    put(x, ">", 1);
}

void hs_s3_xml_elem(struct hs_s3_xml *x, const char *name, const char *text)
{
    hs_s3_xml_elem_n(x, name, text, text != NULL ? strlen(text) : 0);
}

void hs_s3_xml_elem_u64(struct hs_s3_xml *x, const char *name, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRIu64, v);
    hs_s3_xml_elem_n(x, name, num, (size_t)n);
}

void hs_s3_xml_elem_bool(struct hs_s3_xml *x, const char *name, bool v)
{
    hs_s3_xml_elem(x, name, v ? "true" : "false");
}

enum hs_err hs_s3_xml_end(struct hs_s3_xml *x)
{
    if (x->err == HS_OK && x->depth != 0)
        x->err = HS_EINVAL;
    return x->err;
}
