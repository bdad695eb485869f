/* The streaming G-code reader (docs/files.md, "G-code"): header comments of Bambu Studio,
 * OrcaSlicer, PrusaSlicer and Cura, and the extrusion of every tool per layer. */
#include "files/priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/jw.h"

/* Only this much of a line is read: commands are short, and the config block's long lines
 * (flush matrices, preset names) are comments whose head is all we read. */
#define LINE_MAX_READ 4096
/* Limits are checked (deadline, cancel) every this many lines. */
#define CHECK_EVERY 65536
/* Text is refused when this much of its start holds a NUL: a binary file is not G-code. */
#define SNIFF_BYTES 65536

typedef struct tool {
    double pos;        /* net filament pushed since the tool was first used (mm) */
    double high;       /* the furthest pos reached: retracting and pushing back costs nothing */
    double recorded;   /* high at the last curve point */
    bool used;
    /* header figures, per tool (<0 or "" unknown) */
    double used_g, used_m, density, diameter;
    char type[32];
    char color[10];
} tool;

struct pd_gcode {
    pd_files_limits lim;
    char line[LINE_MAX_READ + 1];
    size_t llen;
    bool overlong;            /* the rest of the current line is skipped */
    uint64_t bytes, lines;
    bool relative_e;          /* M83 */
    double e_coord;           /* the E axis as the G-code sees it (absolute mode) */
    int cur;                  /* current tool */
    tool t[PD_FILES_MAX_FILAMENTS];
    uint32_t layer;           /* current layer, 0 before the first */
    bool m73_layers;          /* M73 L gives the layers: comment markers are ignored */
    bool backwards;           /* a layer number went back (warned once) */
    uint64_t commands;
    pd_files_point *curve;
    size_t ncurve, capcurve;
    uint32_t stride;          /* layers per kept point once the curve was thinned; 1 before */
    pd_err fail;
    char why[160];
    /* header */
    char slicer[64];
    int64_t prediction_s;
    int total_layers;
    int hdr_ids[PD_FILES_MAX_FILAMENTS];  /* "; filament: 1,3": which ids the lists describe */
    int nhdr_ids;
};

/* --- shared helpers --------------------------------------------------------------------- */

void pd_files_warn(pd_files_result *res, const char *fmt, ...)
{
    if (!res || res->nwarnings >= PD_FILES_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->warnings[res->nwarnings], sizeof res->warnings[0], fmt, ap);
    va_end(ap);
    pd_jw_utf8_repair(res->warnings[res->nwarnings]);
    res->nwarnings++;
}

pd_err pd_files_check(const pd_files_limits *lim, char *err, size_t errlen)
{
    if (lim->cancel && atomic_load(lim->cancel)) {
        snprintf(err, errlen, "analysis cancelled");
        return PD_ERR_BUSY;
    }
    if (lim->deadline_ms && pd_clock_mono_ms() > lim->deadline_ms) {
        /* a file too big to read in the time given is too big, as one over the size bound */
        snprintf(err, errlen, "the analysis took longer than its time bound");
        return PD_ERR_TOOBIG;
    }
    return PD_OK;
}

pd_files_filament *pd_files_fil(pd_files_plate *p, int id)
{
    for (int i = 0; i < p->nfil; i++)
        if (p->fil[i].id == id)
            return &p->fil[i];
    if (p->nfil >= PD_FILES_MAX_FILAMENTS || id < 1 || id > PD_FILES_MAX_FILAMENTS)
        return NULL;
    pd_files_filament *f = &p->fil[p->nfil++];
    *f = (pd_files_filament){.id = id, .used_g = -1, .used_m = -1, .density = 0, .diameter = 0};
    return f;
}

double pd_files_mm_to_g(double mm, double diameter, double density)
{
    double r = diameter / 2;
    return mm * 3.14159265358979323846 * r * r * density / 1000.0;  /* mm³ → cm³ */
}

/* Typical densities (g/cm³) of the materials Bambu Studio names, for files that do not give
 * theirs: the filament profiles of Bambu Studio's and OrcaSlicer's system presets. Longest
 * matching prefix wins, so "PLA-CF" is not read as "PLA". */
static const struct { const char *type; double density; } densities[] = {
    {"PLA", 1.24},   {"PLA-CF", 1.22},  {"PLA-S", 1.24},   {"PETG", 1.27}, {"PETG-CF", 1.25},
    {"PET-CF", 1.29}, {"PCTG", 1.23},   {"ABS", 1.04},     {"ABS-GF", 1.08}, {"ASA", 1.07},
    {"ASA-CF", 1.12}, {"TPU", 1.21},    {"PC", 1.20},      {"PC-CF", 1.22}, {"PA", 1.14},
    {"PA-CF", 1.06}, {"PAHT-CF", 1.06}, {"PA6-CF", 1.11},  {"PA6-GF", 1.16}, {"PVA", 1.23},
    {"HIPS", 1.04},  {"PP", 0.90},      {"PPS", 1.36},     {"PET", 1.27},  {"BVOH", 1.14},
    {"SUPPORT", 1.24},
};

double pd_files_density(const char *type)
{
    size_t best = 0;
    double d = 1.24;
    for (size_t i = 0; type && i < sizeof densities / sizeof *densities; i++) {
        size_t n = strlen(densities[i].type);
        if (n > best && !strncasecmp(type, densities[i].type, n) &&
            (type[n] == '\0' || !isalnum((unsigned char)type[n]))) {
            best = n;
            d = densities[i].density;
        }
    }
    return d;
}

/* --- numbers and lists ------------------------------------------------------------------- */

/* Sign, digits, fraction, no exponent (G-code has none): faster than strtod on the hot path,
 * and locale-free. */
bool pd_files_num(const char **s, double *out, bool comma)
{
    const char *p = *s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    double v = 0;
    bool digit = false;
    for (; *p >= '0' && *p <= '9'; p++, digit = true)
        v = v * 10 + (*p - '0');
    if (*p == '.' || (comma && *p == ',' && p[1] >= '0' && p[1] <= '9')) {
        double f = 0.1;
        for (p++; *p >= '0' && *p <= '9'; p++, digit = true, f /= 10)
            v += (*p - '0') * f;
    }
    if (!digit)
        return false;
    /* hundreds of digits would make inf, and inf - inf NaN, which no JSON can carry: the
     * fields would vanish from the answer. No real figure comes near the clamp. */
    if (v > PD_FILES_NUM_MAX)
        v = PD_FILES_NUM_MAX;
    *s = p;
    *out = neg ? -v : v;
    return true;
}

/* Splits a header list ("13.68,28.19", "PLA;PETG", "13.75, 0.00") into up to max items of
 * itemlen; returns how many. */
static int list_split(const char *v, char items[][32], int max)
{
    int n = 0;
    while (*v && n < max) {
        v += strspn(v, " \t\"");
        size_t len = strcspn(v, ",;");
        size_t k = len;
        while (k && (v[k - 1] == ' ' || v[k - 1] == '"' || v[k - 1] == '\t'))
            k--;
        snprintf(items[n], 32, "%.*s", (int)(k < 31 ? k : 31), v);
        pd_jw_utf8_repair(items[n]);
        n++;
        v += len;
        if (*v)
            v++;
    }
    return n;
}

static int num_list(const char *v, double *out, int max)
{
    int n = 0;
    while (*v && n < max) {
        v += strspn(v, " \t,;");
        double d;
        if (!pd_files_num(&v, &d, false))
            break;
        out[n++] = d;
        v += strspn(v, " \tmgMG");  /* Cura's "1.23m" */
    }
    return n;
}

/* "1d 2h 3m 4s", "14m 34s", "34s", or plain seconds; -1 when nothing reads as a time. */
static int64_t duration(const char *v)
{
    int64_t total = 0;
    bool any = false;
    while (*v) {
        v += strspn(v, " \t");
        double d;
        if (!pd_files_num(&v, &d, false))
            break;
        int64_t mult = 1;
        switch (*v) {
        case 'd': mult = 86400; v++; break;
        case 'h': mult = 3600; v++; break;
        case 'm': mult = 60; v++; break;
        case 's': v++; break;
        default: break;
        }
        if (d < 0 || d > 1e9)
            return -1;
        total += (int64_t)(d * (double)mult);
        any = true;
    }
    return any ? total : -1;
}

/* --- the curve ----------------------------------------------------------------------------- */

/* The curve at its budget (max_points) keeps, per filament, only the last point of each run of
 * `stride` layers, the stride doubling until half the budget is free: every total kept is
 * exact at its layer, the layers between read the total before them (a little low). A plate
 * of 100,000 layers and 32 filaments thus costs max_points × 12 bytes, not 38 MB. */
#define DROPPED 0x8000u
static void thin(pd_gcode *g)
{
    for (;; g->stride *= 2) {
        uint32_t last[PD_FILES_MAX_FILAMENTS];
        for (int i = 0; i < PD_FILES_MAX_FILAMENTS; i++)
            last[i] = UINT32_MAX;
        for (size_t i = g->ncurve; i-- > 0;) {
            pd_files_point *p = &g->curve[i];
            uint32_t bucket = p->layer / g->stride;
            if (last[p->fil] == bucket)
                p->fil |= DROPPED;
            else
                last[p->fil] = bucket;
        }
        size_t k = 0;
        for (size_t i = 0; i < g->ncurve; i++)
            if (!(g->curve[i].fil & DROPPED))
                g->curve[k++] = g->curve[i];
        g->ncurve = k;
        if (g->ncurve <= g->lim.max_points / 2)
            return;
    }
}

static void record_layer(pd_gcode *g)
{
    for (int i = 0; i < PD_FILES_MAX_FILAMENTS && !g->fail; i++) {
        tool *t = &g->t[i];
        if (!t->used || t->high == t->recorded)
            continue;
        if (g->ncurve == g->lim.max_points)
            thin(g);
        if (g->ncurve == g->capcurve) {
            size_t cap = g->capcurve ? g->capcurve * 2 : 256;
            if (cap > g->lim.max_points)
                cap = g->lim.max_points;
            pd_files_point *np = realloc(g->curve, cap * sizeof *np);
            if (!np) {
                g->fail = PD_ERR_NOMEM;
                snprintf(g->why, sizeof g->why, "out of memory");
                return;
            }
            g->curve = np;
            g->capcurve = cap;
        }
        g->curve[g->ncurve++] = (pd_files_point){g->layer, (uint16_t)i, (float)t->high};
        t->recorded = t->high;
    }
}

static void set_layer(pd_gcode *g, uint64_t layer)
{
    if (layer > g->lim.max_layers) {
        g->fail = PD_ERR_TOOBIG;
        snprintf(g->why, sizeof g->why, "G-code has more than %u layers", g->lim.max_layers);
        return;
    }
    if (layer == g->layer)
        return;
    if (layer < g->layer) {
        g->backwards = true;  /* keep the curve ascending: stay on the higher layer */
        return;
    }
    record_layer(g);
    g->layer = (uint32_t)layer;
}

/* --- lines --------------------------------------------------------------------------------- */

/* The value of parameter `letter` in a command line (after the command word), or false. */
static bool param(const char *s, char letter, double *out)
{
    for (; *s; s++) {
        if ((*s == letter || *s == letter + 32) && (s[-1] == ' ' || s[-1] == '\t')) {
            const char *p = s + 1;
            if (pd_files_num(&p, out, false))
                return true;
        }
    }
    return false;
}

static void extrude(pd_gcode *g, double delta)
{
    tool *t = &g->t[g->cur];
    t->used = true;
    t->pos += delta;
    if (t->pos > t->high)
        t->high = t->pos;
}

static void tool_select(pd_gcode *g, double n)
{
    /* T255, T1000 and M620 S255 are unloads and nozzle routines in Bambu's G-code, not tools */
    if (n >= 0 && n < PD_FILES_MAX_FILAMENTS)
        g->cur = (int)n;
}

static void command(pd_gcode *g, const char *s)
{
    char c = (char)toupper((unsigned char)s[0]);
    const char *p = s + 1;
    double code;
    if (!pd_files_num(&p, &code, false))
        return;
    if (*p && *p != ' ' && *p != '\t' && *p != '.')
        return;
    g->commands++;
    double v;
    if (c == 'G') {
        int gc = code >= 0 && code < 1000 ? (int)code : -1;  /* G and M codes are small */
        if (gc >= 0 && gc <= 3 && param(p, 'E', &v)) {
            if (g->relative_e) {
                extrude(g, v);
            } else {
                extrude(g, v - g->e_coord);
                g->e_coord = v;
            }
        } else if (gc == 92) {
            /* G92 alone zeroes every axis; with other axes only, E stays */
            if (param(p, 'E', &v))
                g->e_coord = v;
            else if (!param(p, 'X', &v) && !param(p, 'Y', &v) && !param(p, 'Z', &v))
                g->e_coord = 0;
        } else if (gc == 91) {
            g->relative_e = true;   /* G91 makes E relative too (Marlin, Klipper) */
        } else if (gc == 90) {
            g->relative_e = false;
        }
    } else if (c == 'M') {
        int mc = code >= 0 && code < 1000 ? (int)code : -1;
        if (mc == 82) {
            g->relative_e = false;
        } else if (mc == 83) {
            g->relative_e = true;
        } else if (mc == 73 && param(p, 'L', &v) && v >= 0) {
            g->m73_layers = true;
            set_layer(g, (uint64_t)v);
        } else if (mc == 620 && code == 620 && param(p, 'S', &v)) {
            tool_select(g, v);   /* M620 S<n>A: Bambu's filament change to slicer filament n */
        }
    } else if (c == 'T') {
        tool_select(g, code);
    }
}

/* A header comment: `key = value`, `key: value` or `key : value`. */
static void comment(pd_gcode *g, const char *s)
{
    s += strspn(s, "; \t");
    if (!strncasecmp(s, "CHANGE_LAYER", 12) || !strncasecmp(s, "LAYER_CHANGE", 12)) {
        if (!g->m73_layers)
            set_layer(g, (uint64_t)g->layer + 1);
        return;
    }
    if (!strncmp(s, "LAYER:", 6)) {   /* Cura, 0-based (negative for rafts) */
        double v;
        const char *p = s + 6;
        if (!g->m73_layers && pd_files_num(&p, &v, false) && v >= -1000)
            set_layer(g, v < 0 ? 0 : (uint64_t)v + 1);
        return;
    }
    if (!g->slicer[0]) {
        const char *gen = NULL;
        if (!strncasecmp(s, "generated by ", 13))
            gen = s + 13;
        else if (!strncasecmp(s, "Generated with ", 15))
            gen = s + 15;
        else if (!strncmp(s, "BambuStudio ", 12) || !strncmp(s, "OrcaSlicer ", 11))
            gen = s;
        if (gen) {
            size_t n = strlen(gen);
            const char *on = strstr(gen, " on ");
            if (on)
                n = (size_t)(on - gen);
            snprintf(g->slicer, sizeof g->slicer, "%.*s", (int)(n < 63 ? n : 63), gen);
            pd_jw_utf8_repair(g->slicer);
            return;
        }
    }
    size_t klen = strcspn(s, "=:");
    if (!s[klen])
        return;
    char key[64];
    size_t k = klen;
    while (k && (s[k - 1] == ' ' || s[k - 1] == '\t'))
        k--;
    if (k == 0 || k >= sizeof key)
        return;
    for (size_t i = 0; i < k; i++)
        key[i] = (char)tolower((unsigned char)s[i]);
    key[k] = '\0';
    const char *v = s + klen + 1;
    v += strspn(v, " \t");

    double nums[PD_FILES_MAX_FILAMENTS];
    char items[PD_FILES_MAX_FILAMENTS][32];
    int n;
    if (!strcmp(key, "model printing time")) {
        const char *tot = strstr(v, "total estimated time:");
        if (tot) {
            int64_t d = duration(tot + 21);
            if (d >= 0)
                g->prediction_s = d;
        }
    } else if (!strcmp(key, "estimated printing time (normal mode)") || !strcmp(key, "time")) {
        int64_t d = duration(v);
        if (d >= 0 && g->prediction_s < 0)
            g->prediction_s = d;
    } else if (!strcmp(key, "total layer number") || !strcmp(key, "total layers count") ||
               !strcmp(key, "layer_count")) {
        double d;
        if (pd_files_num(&v, &d, false) && d > 0 && d <= g->lim.max_layers)
            g->total_layers = (int)d;
    } else if (!strcmp(key, "filament")) {
        n = num_list(v, nums, PD_FILES_MAX_FILAMENTS);
        g->nhdr_ids = 0;
        for (int i = 0; i < n; i++)
            if (nums[i] >= 1 && nums[i] <= PD_FILES_MAX_FILAMENTS)
                g->hdr_ids[g->nhdr_ids++] = (int)nums[i];
    } else if (!strcmp(key, "total filament weight [g]") || !strcmp(key, "filament used [g]")) {
        n = num_list(v, nums, PD_FILES_MAX_FILAMENTS);
        for (int i = 0; i < n; i++) {
            int ti = n == g->nhdr_ids ? g->hdr_ids[i] - 1 : i;
            g->t[ti].used_g = nums[i];
        }
    } else if (!strcmp(key, "total filament length [mm]") || !strcmp(key, "filament used [mm]") ||
               !strcmp(key, "filament used")) {
        /* Cura's "Filament used: 1.2m" is metres already */
        double scale = !strcmp(key, "filament used") ? 1 : 0.001;
        n = num_list(v, nums, PD_FILES_MAX_FILAMENTS);
        for (int i = 0; i < n; i++) {
            int ti = n == g->nhdr_ids ? g->hdr_ids[i] - 1 : i;
            g->t[ti].used_m = nums[i] * scale;
        }
    } else if (!strcmp(key, "filament_density") || !strcmp(key, "filament_diameter")) {
        bool dens = key[9] == 'd' && key[10] == 'e';
        n = num_list(v, nums, PD_FILES_MAX_FILAMENTS);
        for (int i = 0; i < n; i++)
            if (nums[i] > 0.1 && nums[i] < 20)
                *(dens ? &g->t[i].density : &g->t[i].diameter) = nums[i];
    } else if (!strcmp(key, "filament_type")) {
        n = list_split(v, items, PD_FILES_MAX_FILAMENTS);
        for (int i = 0; i < n; i++)
            snprintf(g->t[i].type, sizeof g->t[i].type, "%s", items[i]);
    } else if (!strcmp(key, "filament_colour") || !strcmp(key, "extruder_colour")) {
        n = list_split(v, items, PD_FILES_MAX_FILAMENTS);
        for (int i = 0; i < n; i++)
            if (items[i][0] == '#' && strlen(items[i]) >= 7 && !g->t[i].color[0] &&
                strspn(items[i] + 1, "0123456789abcdefABCDEF") >= 6)
                snprintf(g->t[i].color, sizeof g->t[i].color, "%.7s", items[i]);
    }
}

static void line(pd_gcode *g, char *s, size_t len)
{
    s[len] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == ';') {
        comment(g, s);
        return;
    }
    char *semi = strchr(s, ';');
    if (semi) {
        *semi = '\0';
        /* Bambu puts markers after commands rarely; nothing we read lives there */
    }
    char c = *s;
    if (c == 'G' || c == 'g' || c == 'M' || c == 'm' || c == 'T' || c == 't')
        command(g, s);
}

pd_gcode *pd_gcode_new(const pd_files_limits *lim)
{
    pd_gcode *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->lim = *lim;
    if (g->lim.max_points < 64)
        g->lim.max_points = 64;  /* thin() needs room for one point per filament, twice */
    g->stride = 1;
    g->prediction_s = -1;
    for (int i = 0; i < PD_FILES_MAX_FILAMENTS; i++)
        g->t[i].used_g = g->t[i].used_m = -1;
    return g;
}

void pd_gcode_free(pd_gcode **g)
{
    if (!*g)
        return;
    free((*g)->curve);
    free(*g);
    *g = NULL;
}

pd_err pd_gcode_feed(pd_gcode *g, const char *p, size_t n, char *err, size_t errlen)
{
    if (!g->fail && g->bytes < SNIFF_BYTES &&
        memchr(p, '\0', n < SNIFF_BYTES - g->bytes ? n : SNIFF_BYTES - g->bytes)) {
        g->fail = PD_ERR_PARSE;
        snprintf(g->why, sizeof g->why, "not G-code: binary data (a NUL byte) in the text");
    }
    g->bytes += n;
    const char *end = p + n;
    while (p < end && !g->fail) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = (size_t)((nl ? nl : end) - p);
        if (!g->overlong) {
            size_t room = LINE_MAX_READ - g->llen;
            size_t k = take < room ? take : room;
            memcpy(g->line + g->llen, p, k);
            g->llen += k;
            if (take > room)
                g->overlong = true;
        }
        p += take;
        if (!nl)
            break;
        p++;
        size_t l = g->llen;
        if (l && g->line[l - 1] == '\r')
            l--;
        line(g, g->line, l);
        g->llen = 0;
        g->overlong = false;
        if (++g->lines % CHECK_EVERY == 0 && !g->fail)
            g->fail = pd_files_check(&g->lim, g->why, sizeof g->why);
    }
    if (g->fail)
        snprintf(err, errlen, "%s", g->why);
    return g->fail;
}

pd_err pd_gcode_finish(pd_gcode *g, pd_files_plate *plate, pd_files_result *res, char *err,
                       size_t errlen)
{
    if (!g->fail && g->llen)
        line(g, g->line, g->llen);
    g->llen = 0;
    if (!g->fail)
        record_layer(g);
    if (!g->fail && !g->commands) {
        g->fail = PD_ERR_PARSE;
        snprintf(g->why, sizeof g->why, "not G-code: no G-code command in %llu lines",
                 (unsigned long long)g->lines);
    }
    if (g->fail) {
        snprintf(err, errlen, "%s", g->why);
        return g->fail;
    }
    if (g->backwards)
        pd_files_warn(res, "plate %d: layer numbers go backwards in the G-code", plate->index);
    if (!res->slicer[0])
        snprintf(res->slicer, sizeof res->slicer, "%s", g->slicer);
    if (plate->prediction_s < 0)
        plate->prediction_s = g->prediction_s;
    if (plate->layers <= 0)
        plate->layers = g->total_layers > 0 ? g->total_layers : (int)g->layer;
    /* the filaments the G-code used or its header describes, merged by id = tool + 1 */
    int fil_of[PD_FILES_MAX_FILAMENTS];
    for (int i = 0; i < PD_FILES_MAX_FILAMENTS; i++) {
        tool *t = &g->t[i];
        fil_of[i] = -1;
        bool described = t->used_g > 0 || t->used_m > 0;
        if (!t->used && !described)
            continue;
        pd_files_filament *f = pd_files_fil(plate, i + 1);
        if (!f)
            continue;
        fil_of[i] = (int)(f - plate->fil);
        if (!f->type[0])
            snprintf(f->type, sizeof f->type, "%s", t->type);
        if (!f->color[0])
            snprintf(f->color, sizeof f->color, "%s", t->color);
        if (f->used_g < 0)
            f->used_g = t->used_g;
        if (f->used_m < 0)
            f->used_m = t->used_m;
        if (f->density <= 0)
            f->density = t->density;
        if (f->diameter <= 0)
            f->diameter = t->diameter;
        f->gcode_mm = t->high;
    }
    /* the header's density and diameter when a slice_info filament got none above */
    for (int i = 0; i < plate->nfil; i++) {
        pd_files_filament *f = &plate->fil[i];
        tool *t = &g->t[f->id - 1];
        if (f->density <= 0 && t->density > 0)
            f->density = t->density;
        if (f->diameter <= 0 && t->diameter > 0)
            f->diameter = t->diameter;
    }
    size_t k = 0;
    for (size_t i = 0; i < g->ncurve; i++)
        if (fil_of[g->curve[i].fil] >= 0)
            g->curve[k++] = (pd_files_point){g->curve[i].layer, (uint16_t)fil_of[g->curve[i].fil],
                                             g->curve[i].mm};
    free(plate->curve);
    plate->curve = g->curve;
    plate->ncurve = k;
    plate->has_gcode = true;
    g->curve = NULL;
    g->ncurve = g->capcurve = 0;
    return PD_OK;
}
