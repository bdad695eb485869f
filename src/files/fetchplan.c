/* The rules are what the Home Assistant integration (greghesp/ha-bambulab, pybambu models.py
 * `_attempt_ftp_download`) learned across models and firmware: see docs/ftps.md. */
#include "files/fetchplan.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void pd_fetchplan_timing(pd_model m, pd_fetch_timing *out)
{
    switch (m) {
    case PD_MODEL_A1: case PD_MODEL_A1MINI: case PD_MODEL_P1P: case PD_MODEL_P1S:
    case PD_MODEL_A2L:
        *out = (pd_fetch_timing){PD_FETCH_AT_PREPARE, 99, 3, 5};
        break;
    default:
        *out = (pd_fetch_timing){PD_FETCH_RETRY_RUNNING, 0, 12, 5};
        break;
    }
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && !strncasecmp(s + len - n, suffix, n);
}

/* One path segment the storage can hold: no separator, no "..", nothing unprintable. */
static bool name_ok(const char *s, size_t len)
{
    if (!len || len > PD_FTPS_NAME_MAX || (len == 1 && s[0] == '.') ||
        (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\')
            return false;
    return true;
}

typedef struct plan {
    char (*out)[PD_FETCHPLAN_PATH_MAX];
    size_t n, max;
} plan;

static void add(plan *p, const char *dir, const char *name, size_t len, const char *suffix)
{
    if (p->n == p->max)
        return;
    char path[PD_FETCHPLAN_PATH_MAX];
    int w = snprintf(path, sizeof path, "%s%s%.*s%s", dir, dir[1] ? "/" : "", (int)len, name, suffix);
    if (w < 0 || (size_t)w >= sizeof path)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->out[i], path))
            return;
    memcpy(p->out[p->n++], path, (size_t)w + 1);
}

/* NAME.3mf and NAME.gcode.3mf, or the name as is when it is already a 3MF; "x.gcode" (a
 * plain G-code name) becomes x.gcode.3mf. */
static void add_forms(plan *p, const char *dir, const char *name, size_t len)
{
    if (!name_ok(name, len))
        return;
    if (ends_with(name, len, ".3mf")) {
        add(p, dir, name, len, "");
    } else if (ends_with(name, len, ".gcode")) {
        add(p, dir, name, len, ".3mf");
    } else {
        add(p, dir, name, len, ".3mf");
        add(p, dir, name, len, ".gcode.3mf");
    }
}

/* gcode_file as printers report it: "/sdcard/cache/x.3mf", "ftp:///model/x.gcode.3mf",
 * "file:///mnt/sdcard/x.3mf", "/data/Metadata/plate_1.gcode", or a bare name. Gives the
 * path on the FTPS storage (NULL when it is not there) and the last segment. */
static const char *storage_path(const char *g, const char **base, size_t *blen)
{
    static const char *const schemes[] = {"ftp://", "file://"};
    static const char *const mounts[] = {"/mnt/sdcard", "/sdcard", "/mnt/udisk", "/udisk"};
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        if (!strncasecmp(g, schemes[i], strlen(schemes[i])))
            g += strlen(schemes[i]);
    const char *slash = strrchr(g, '/');
    *base = slash ? slash + 1 : g;
    *blen = strlen(*base);
    if (g[0] != '/')
        return NULL;
    for (size_t i = 0; i < sizeof mounts / sizeof *mounts; i++) {
        size_t n = strlen(mounts[i]);
        if (!strncmp(g, mounts[i], n) && g[n] == '/')
            return g + n;
    }
    /* X1 reports its RAM disk (/data/Metadata/plate_1.gcode), which FTPS does not serve */
    return strncmp(g, "/data/", 6) ? g : NULL;
}

size_t pd_fetchplan_candidates(const char *subtask_name, const char *gcode_file,
                               char out[][PD_FETCHPLAN_PATH_MAX], size_t max)
{
    static const char *const dirs[] = {"/", "/cache", "/model"};
    plan p = {out, 0, max};
    const char *sub = subtask_name ? subtask_name : "";
    const char *g = gcode_file ? gcode_file : "";
    const char *base = "";
    size_t blen = 0;
    const char *onstorage = g[0] ? storage_path(g, &base, &blen) : NULL;
    /* X1's plate_N.gcode names a plate, not the file */
    bool base_names_file = blen && strncmp(base, "plate_", 6);
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++)
        add_forms(&p, dirs[d], sub, strlen(sub));
    if (onstorage && ends_with(onstorage, strlen(onstorage), ".3mf")) {
        const char *dirend = strrchr(onstorage, '/');
        bool clean = !strstr(onstorage, "/../") && !strstr(onstorage, "/./") && name_ok(base, blen);
        for (const char *c = onstorage; clean && *c; c++)
            clean = (unsigned char)*c >= 0x20 && *c != 0x7f;
        if (clean && dirend) {
            char dir[PD_FETCHPLAN_PATH_MAX];
            snprintf(dir, sizeof dir, "%.*s", dirend == onstorage ? 1 : (int)(dirend - onstorage), onstorage);
            add(&p, dir, base, blen, "");
        }
    }
    if (base_names_file)
        for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++)
            add_forms(&p, dirs[d], base, blen);
    return p.n;
}

const pd_ftps_entry *pd_fetchplan_newest_3mf(const pd_ftps_entry *v, size_t n)
{
    const pd_ftps_entry *best = NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i].kind != PD_FTPS_FILE || !ends_with(v[i].name, strlen(v[i].name), ".3mf"))
            continue;
        if (!best || v[i].mtime >= best->mtime)
            best = &v[i];
    }
    return best;
}
