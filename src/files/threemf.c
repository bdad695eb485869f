/* The `.gcode.3mf` reader (docs/files.md, "3MF"): libzip for the archive, expat for
 * slice_info.config, jansson for project_settings.config, gcode.c for each plate's G-code.
 * Nothing is extracted to disk: entries are read by their exact names, so a name that climbs
 * out of a directory is never a path anywhere, only a warning. */
#include <expat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jw.h"
#include "files/priv.h"

#define SLICE_INFO "Metadata/slice_info.config"
#define PROJECT_SETTINGS "Metadata/project_settings.config"
/* The small entries are read whole, each within this bound. */
#define XML_MAX (8u << 20)
#define SETTINGS_MAX (16u << 20)
#define READ_PIECE (256 * 1024)

typedef struct zr {
    zip_t *za;
    const pd_files_limits *lim;
    pd_files_result *res;
    uint64_t unzipped;      /* bytes inflated so far, every entry */
    char *err;
    size_t errlen;
} zr;

/* Streams the entry `name` to fn in pieces, within the archive's bounds (its declared size, the
 * ratio, the total). NOTFOUND when there is no such entry (err untouched). */
static pd_err entry_read(zr *z, const char *name, uint64_t max,
                         pd_err (*fn)(void *ud, const char *p, size_t n, char *err, size_t errlen),
                         void *ud)
{
    zip_int64_t idx = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (idx < 0)
        return PD_ERR_NOTFOUND;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->za, (zip_uint64_t)idx, 0, &st) < 0) {
        snprintf(z->err, z->errlen, "%s: %s", name, zip_strerror(z->za));
        return PD_ERR_PARSE;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        snprintf(z->err, z->errlen, "%s is encrypted", name);
        return PD_ERR_PARSE;
    }
    if (st.size > max || st.size > z->lim->max_unzipped - z->unzipped) {
        snprintf(z->err, z->errlen, "%s is %llu bytes uncompressed, over the bound of %llu", name,
                 (unsigned long long)st.size,
                 (unsigned long long)(max < z->lim->max_unzipped ? max : z->lim->max_unzipped));
        return PD_ERR_TOOBIG;
    }
    /* a zip bomb inflates far past what any real entry does (G-code: 5-10×) */
    if (st.size > 65536 && st.size / (st.comp_size ? st.comp_size : 1) > z->lim->max_ratio) {
        snprintf(z->err, z->errlen, "%s inflates %llu times (bound %u): refused as a zip bomb",
                 name, (unsigned long long)(st.size / (st.comp_size ? st.comp_size : 1)),
                 z->lim->max_ratio);
        return PD_ERR_TOOBIG;
    }
    zip_file_t *zf = zip_fopen_index(z->za, (zip_uint64_t)idx, 0);
    if (!zf) {
        snprintf(z->err, z->errlen, "%s: %s", name, zip_strerror(z->za));
        return PD_ERR_PARSE;
    }
    char *piece = malloc(READ_PIECE);
    pd_err rc = piece ? PD_OK : PD_ERR_NOMEM;
    uint64_t got = 0;
    while (!rc) {
        zip_int64_t n = zip_fread(zf, piece, READ_PIECE);
        if (n < 0) {
            /* libzip checks the CRC and the declared size as it reads: a lying header ends here */
            snprintf(z->err, z->errlen, "%s is damaged: %s", name, zip_file_strerror(zf));
            rc = PD_ERR_PARSE;
            break;
        }
        if (n == 0)
            break;
        got += (uint64_t)n;
        z->unzipped += (uint64_t)n;
        if (got > st.size || z->unzipped > z->lim->max_unzipped) {
            snprintf(z->err, z->errlen, "%s inflates past its bound", name);
            rc = PD_ERR_TOOBIG;
            break;
        }
        if (!(rc = fn(ud, piece, (size_t)n, z->err, z->errlen)))
            rc = pd_files_check(z->lim, z->err, z->errlen);
    }
    free(piece);
    zip_fclose(zf);
    return rc;
}

static pd_err to_buf(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
    pd_err rc = pd_buf_add(ud, p, n);
    if (rc)
        snprintf(err, errlen, "out of memory");
    return rc;
}

/* A small entry whole, in *b (bounded by max). */
static pd_err entry_whole(zr *z, const char *name, uint64_t max, pd_buf *b)
{
    pd_buf_init(b, max);
    return entry_read(z, name, max, to_buf, b);
}

/* --- slice_info.config ------------------------------------------------------------------- */

typedef struct xml_ctx {
    zr *z;
    XML_Parser p;
    pd_files_plate *plate;   /* the <plate> being read */
    bool refused;            /* a DOCTYPE, or a bound */
    pd_err rc;
} xml_ctx;

static const char *attr(const XML_Char **a, const char *name)
{
    for (; a[0]; a += 2)
        if (!strcmp(a[0], name))
            return a[1];
    return NULL;
}

static double xml_num(const char *v, double dflt)
{
    double d;
    return v && pd_files_num(&v, &d, true) ? d : dflt;
}

static void xml_stop(xml_ctx *x, pd_err rc, const char *msg)
{
    if (!x->refused) {
        x->refused = true;
        x->rc = rc;
        snprintf(x->z->err, x->z->errlen, SLICE_INFO ": %s", msg);
        XML_StopParser(x->p, XML_FALSE);
    }
}

static void xml_start(void *ud, const XML_Char *el, const XML_Char **a)
{
    xml_ctx *x = ud;
    pd_files_result *res = x->z->res;
    if (x->refused)
        return;
    if (!strcmp(el, "plate")) {
        if ((uint32_t)res->nplates >= x->z->lim->max_plates) {
            xml_stop(x, PD_ERR_TOOBIG, "more plates than the bound");
            return;
        }
        pd_files_plate *pl = &res->plates[res->nplates++];
        *pl = (pd_files_plate){.index = 0, .prediction_s = -1, .weight_g = -1};
        x->plate = pl;
        return;
    }
    pd_files_plate *pl = x->plate;
    if (!pl)
        return;
    if (!strcmp(el, "metadata")) {
        const char *k = attr(a, "key"), *v = attr(a, "value");
        if (!k || !v)
            return;
        if (!strcmp(k, "index")) {
            double d = xml_num(v, 0);
            pl->index = d >= 1 && d <= 1000 ? (int)d : 0;
        } else if (!strcmp(k, "prediction")) {
            double d = xml_num(v, -1);
            pl->prediction_s = d >= 0 && d < 1e9 ? (int64_t)d : -1;
        } else if (!strcmp(k, "weight")) {
            double d = xml_num(v, -1);
            pl->weight_g = d >= 0 && d < 1e7 ? d : -1;
        } else if (!strcmp(k, "printer_model_id") && !res->printer_model[0]) {
            snprintf(res->printer_model, sizeof res->printer_model, "%s", v);
            pd_jw_utf8_repair(res->printer_model);
        }
    } else if (!strcmp(el, "filament")) {
        double id = xml_num(attr(a, "id"), 0);
        pd_files_filament *f = id >= 1 && id <= PD_FILES_MAX_FILAMENTS ? pd_files_fil(pl, (int)id)
                                                                       : NULL;
        if (!f) {
            pd_files_warn(res, "plate %d: a filament with id \"%.20s\" ignored", pl->index,
                          attr(a, "id") ? attr(a, "id") : "");
            return;
        }
        const char *t = attr(a, "type"), *c = attr(a, "color");
        if (t) {
            snprintf(f->type, sizeof f->type, "%s", t);
            pd_jw_utf8_repair(f->type);
        }
        if (c && c[0] == '#' && strspn(c + 1, "0123456789abcdefABCDEF") >= 6)
            snprintf(f->color, sizeof f->color, "%.7s", c);
        double g = xml_num(attr(a, "used_g"), -1), m = xml_num(attr(a, "used_m"), -1);
        f->used_g = g >= 0 && g < 1e7 ? g : -1;
        f->used_m = m >= 0 && m < 1e8 ? m : -1;
    }
}

static void xml_end(void *ud, const XML_Char *el)
{
    xml_ctx *x = ud;
    if (!strcmp(el, "plate"))
        x->plate = NULL;
}

/* A DTD can declare entities that expand without end (billion laughs): no Bambu file has
 * one, so any is refused before expat reads it. */
static void xml_doctype(void *ud, const XML_Char *name, const XML_Char *sys, const XML_Char *pub,
                        int internal)
{
    xml_stop(ud, PD_ERR_PARSE, "a DOCTYPE is not allowed");
}

static pd_err slice_info(zr *z)
{
    pd_buf b;
    pd_err rc = entry_whole(z, SLICE_INFO, XML_MAX, &b);
    if (rc == PD_ERR_NOTFOUND) {
        pd_files_warn(z->res, SLICE_INFO " is missing: figures come from the G-code alone");
        return PD_OK;
    }
    if (rc) {
        pd_buf_free(&b);
        return rc;
    }
    xml_ctx x = {.z = z};
    x.p = XML_ParserCreate(NULL);
    if (!x.p) {
        pd_buf_free(&b);
        snprintf(z->err, z->errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, xml_start, xml_end);
    XML_SetStartDoctypeDeclHandler(x.p, xml_doctype);
    const char *text = pd_buf_len(&b) ? pd_buf_ptr(&b) : "";
    if (XML_Parse(x.p, text, (int)pd_buf_len(&b), 1) == XML_STATUS_ERROR && !x.refused) {
        snprintf(z->err, z->errlen, SLICE_INFO " is not well-formed XML: %s at line %lu",
                 XML_ErrorString(XML_GetErrorCode(x.p)), (unsigned long)XML_GetCurrentLineNumber(x.p));
        x.refused = true;
        x.rc = PD_ERR_PARSE;
    }
    XML_ParserFree(x.p);
    pd_buf_free(&b);
    if (x.refused)
        return x.rc;
    /* plates without a usable index take their position, and duplicates are dropped */
    int k = 0;
    for (int i = 0; i < z->res->nplates; i++) {
        pd_files_plate *pl = &z->res->plates[i];
        if (pl->index <= 0)
            pl->index = i + 1;
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup |= z->res->plates[j].index == pl->index;
        if (dup) {
            pd_files_warn(z->res, "slice_info.config names plate %d twice: the second is ignored",
                          pl->index);
            continue;
        }
        z->res->plates[k++] = *pl;
    }
    z->res->nplates = k;
    return PD_OK;
}

/* --- project_settings.config (JSON despite its name) -------------------------------------- */

static const char *setting(json_t *root, const char *key, int i)
{
    json_t *v = json_object_get(root, key);
    if (json_is_array(v))
        v = json_array_get(v, (size_t)i);
    return json_string_value(v);
}

static void project_settings(zr *z)
{
    pd_buf b;
    pd_err rc = entry_whole(z, PROJECT_SETTINGS, SETTINGS_MAX, &b);
    if (rc) {
        if (rc != PD_ERR_NOTFOUND)
            pd_files_warn(z->res, PROJECT_SETTINGS " not read: %s", z->err);
        z->err[0] = '\0';
        pd_buf_free(&b);
        return;
    }
    json_t *root = json_loadb(pd_buf_len(&b) ? pd_buf_ptr(&b) : "", pd_buf_len(&b), 0, NULL);
    pd_buf_free(&b);
    if (!json_is_object(root)) {
        pd_files_warn(z->res, PROJECT_SETTINGS " is not a JSON object: densities are the "
                              "material's usual ones");
        json_decref(root);
        return;
    }
    for (int p = 0; p < z->res->nplates; p++) {
        pd_files_plate *pl = &z->res->plates[p];
        for (int i = 0; i < pl->nfil; i++) {
            pd_files_filament *f = &pl->fil[i];
            const char *s;
            double d;
            if ((s = setting(root, "filament_density", f->id - 1)) && pd_files_num(&s, &d, true) &&
                d > 0.1 && d < 20)
                f->density = d;
            if ((s = setting(root, "filament_diameter", f->id - 1)) && pd_files_num(&s, &d, true) &&
                d > 0.1 && d < 20)
                f->diameter = d;
            if (!f->type[0] && (s = setting(root, "filament_type", f->id - 1))) {
                snprintf(f->type, sizeof f->type, "%s", s);
                pd_jw_utf8_repair(f->type);
            }
            if (!f->color[0] && (s = setting(root, "filament_colour", f->id - 1)) && s[0] == '#' &&
                strspn(s + 1, "0123456789abcdefABCDEF") >= 6)
                snprintf(f->color, sizeof f->color, "%.7s", s);
        }
    }
    json_decref(root);
}

/* --- the archive ------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every name once: traversal and absolute names are warned about (never used), duplicates
 * refused (which of two slice_info.config would be the file?), and the plates a file without
 * slice_info has are found from their G-code names. */
static pd_err names_check(zr *z, zip_int64_t n)
{
    const char **names = calloc((size_t)n + 1, sizeof *names);
    if (!names) {
        snprintf(z->err, z->errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    int odd = 0;
    const char *first_odd = NULL;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *s = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        names[i] = s ? s : "";
        if (s && (s[0] == '/' || s[0] == '\\' || strstr(s, "..") || strchr(s, ':') ||
                  strchr(s, '\\'))) {
            if (!odd++)
                first_odd = s;
        }
    }
    if (odd)
        pd_files_warn(z->res, "%d entr%s with a path that leaves the archive (such as \"%.60s\") "
                      "ignored", odd, odd == 1 ? "y" : "ies", first_odd);
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    pd_err rc = PD_OK;
    for (zip_int64_t i = 1; i < n && !rc; i++)
        if (names[i][0] && !strcmp(names[i], names[i - 1])) {
            char shown[80];
            snprintf(shown, sizeof shown, "%.*s", pd_jw_utf8_cut(names[i], 60), names[i]);
            pd_jw_utf8_repair(shown);
            snprintf(z->err, z->errlen, "the archive holds two entries named \"%s\"", shown);
            rc = PD_ERR_PARSE;
        }
    free(names);
    return rc;
}

/* TOOBIG past max_plates, as slice_info's plates are: a file is analysed whole or not at all. */
static pd_err plates_from_names(zr *z, zip_int64_t n)
{
    for (zip_int64_t i = 0; i < n; i++) {
        const char *s = zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        int idx, end = 0;
        if (!s || sscanf(s, "Metadata/plate_%d.gcode%n", &idx, &end) != 1 || s[end] || idx < 1 ||
            idx > 1000)
            continue;
        if ((uint32_t)z->res->nplates >= z->lim->max_plates) {
            snprintf(z->err, z->errlen, "the file has more than %u plates", z->lim->max_plates);
            return PD_ERR_TOOBIG;
        }
        pd_files_plate *pl = &z->res->plates[z->res->nplates++];
        *pl = (pd_files_plate){.index = idx, .prediction_s = -1, .weight_g = -1};
    }
    return PD_OK;
}

static pd_err to_gcode(void *ud, const char *p, size_t n, char *err, size_t errlen)
{
    return pd_gcode_feed(ud, p, n, err, errlen);
}

static pd_err plate_read(zr *z, pd_files_plate *pl)
{
    char name[64];
    snprintf(name, sizeof name, "Metadata/plate_%d.png", pl->index);
    pd_buf b;
    pd_err rc = entry_whole(z, name, z->lim->max_thumbnail, &b);
    if (!rc) {
        pl->thumb = (unsigned char *)pd_buf_detach(&b, &pl->thumb_len);
    } else if (rc == PD_ERR_TOOBIG && !strstr(z->err, "zip bomb")) {
        pd_files_warn(z->res, "plate %d: thumbnail left out (%s)", pl->index, z->err);
    } else if (rc != PD_ERR_NOTFOUND) {
        pd_buf_free(&b);
        return rc;
    }
    pd_buf_free(&b);
    z->err[0] = '\0';

    snprintf(name, sizeof name, "Metadata/plate_%d.gcode", pl->index);
    pd_files_limits lim = *z->lim;
    lim.max_points /= (uint32_t)z->res->nplates;  /* the file's budget, shared by its plates */
    pd_gcode *g = pd_gcode_new(&lim);
    if (!g) {
        snprintf(z->err, z->errlen, "out of memory");
        return PD_ERR_NOMEM;
    }
    rc = entry_read(z, name, z->lim->max_unzipped, to_gcode, g);
    if (rc == PD_ERR_NOTFOUND) {
        pd_files_warn(z->res, "plate %d: no G-code in the file (%s): no per-layer figures",
                      pl->index, name);
        rc = PD_OK;
    } else if (!rc) {
        rc = pd_gcode_finish(g, pl, z->res, z->err, z->errlen);
        if (rc) {
            char why[160];
            snprintf(why, sizeof why, "%s", z->err);
            snprintf(z->err, z->errlen, "plate %d G-code: %s", pl->index, why);
        }
    }
    pd_gcode_free(&g);
    return rc;
}

pd_err pd_threemf_read(zip_source_t *src, const pd_files_limits *lim, pd_files_result *res,
                       char *err, size_t errlen)
{
    zr z = {.lim = lim, .res = res, .err = err, .errlen = errlen};
    zip_error_t ze;
    zip_error_init(&ze);
    z.za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!z.za) {
        snprintf(err, errlen, "not a readable 3MF (zip): %s", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        return PD_ERR_PARSE;
    }
    zip_error_fini(&ze);
    res->kind = PD_FILES_3MF;
    pd_err rc = PD_OK;
    zip_int64_t n = zip_get_num_entries(z.za, 0);
    if (n < 0 || (uint64_t)n > lim->max_entries) {
        snprintf(err, errlen, "the archive has %lld entries, over the bound of %u", (long long)n,
                 lim->max_entries);
        rc = PD_ERR_TOOBIG;
        goto out;
    }
    res->plates = calloc(lim->max_plates ? lim->max_plates : 1, sizeof *res->plates);
    if (!res->plates) {
        snprintf(err, errlen, "out of memory");
        rc = PD_ERR_NOMEM;
        goto out;
    }
    if ((rc = names_check(&z, n)) || (rc = slice_info(&z)))
        goto out;
    if (!res->nplates && (rc = plates_from_names(&z, n)))
        goto out;
    if (!res->nplates) {
        snprintf(err, errlen, "not a sliced 3MF: no plate in " SLICE_INFO " and no "
                 "Metadata/plate_N.gcode (slice the project, then export or send it)");
        rc = PD_ERR_PARSE;
        goto out;
    }
    project_settings(&z);
    for (int i = 0; i < res->nplates && !rc; i++)
        rc = plate_read(&z, &res->plates[i]);
out:
    zip_discard(z.za);  /* read-only: nothing to write back */
    return rc;
}
