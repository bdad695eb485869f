/* A printer's storage: for each job, the `.gcode.3mf` Bambu Studio would have sent, written
 * under --storage-dir/<serial>/ (that printer's FTPS root, scripts/ftps.sh). Its filament
 * figures are the job's ground truth: slice_info.config's used_g/used_m are the grams the
 * simulated job really takes off the tray, and plate_1.gcode extrudes exactly that length
 * spread evenly over its layers, as the job consumes it over its print time
 * (docs/simulator.md). Layout after Bambu Studio's bbs_3mf.cpp (docs/ftps.md). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/log.h"
#include "sim.h"

#define SIM_LOG "sim"
#define FILAMENT_DIAMETER_MM 1.75
#define THUMB 64 /* plate_1.png: THUMB × THUMB pixels */

/* g/cm³ of the materials the simulator loads; others count as PLA */
static double density_of(const char *type)
{
    static const struct { const char *type; double d; } t[] = {
        {"PLA", 1.24}, {"PETG", 1.27}, {"ABS", 1.04}, {"ASA", 1.07}, {"TPU", 1.21},
        {"PA", 1.14},  {"PA-CF", 1.14}, {"PC", 1.20}, {"PVA", 1.23}, {"PET-CF", 1.29},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].type, type))
            return t[i].d;
    return 1.24;
}

/* Filament length in mm for `grams` of a material: volume (mm³) over the section. */
static double length_mm(double grams, double density)
{
    double r = FILAMENT_DIAMETER_MM / 2;
    return grams / density * 1000.0 / (M_PI * r * r);
}

/* A printer's name for the job is one path segment it can store. */
static bool name_ok(const char *s)
{
    if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 200)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '/' || *s == '\\')
            return false;
    return true;
}

/* XML text: the job name is the user's */
static void xml_text(pd_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': pd_buf_add_str(b, "&amp;"); break;
        case '<': pd_buf_add_str(b, "&lt;"); break;
        case '>': pd_buf_add_str(b, "&gt;"); break;
        case '"': pd_buf_add_str(b, "&quot;"); break;
        default: pd_buf_add(b, s, 1); break;
        }
    }
}

static void addf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(pd_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0)
        pd_buf_add(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void slice_info(pd_buf *b, const sim_printer *p, const char *type, const char *hex,
                       double grams, double metres)
{
    const sim_job *j = &p->job;
    pd_buf_add_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config>\n  <header>\n"
                      "    <header_item key=\"X-BBL-Client-Type\" value=\"slicer\"/>\n"
                      "    <header_item key=\"X-BBL-Client-Version\" value=\"02.02.02.56\"/>\n"
                      "  </header>\n  <plate>\n    <metadata key=\"index\" value=\"1\"/>\n");
    addf(b, "    <metadata key=\"printer_model_id\" value=\"%s\"/>\n", p->model->key);
    addf(b, "    <metadata key=\"nozzle_diameters\" value=\"0.4\"/>\n");
    addf(b, "    <metadata key=\"prediction\" value=\"%d\"/>\n", (int)lround(j->total_s));
    addf(b, "    <metadata key=\"weight\" value=\"%.2f\"/>\n", grams);
    pd_buf_add_str(b, "    <object identify_id=\"100\" name=\"");
    xml_text(b, j->name);
    pd_buf_add_str(b, "\" skipped=\"false\" />\n");
    addf(b, "    <filament id=\"1\" tray_info_idx=\"\" type=\"%s\" color=\"#%.6s\" used_m=\"%.2f\" "
            "used_g=\"%.2f\" />\n", type, hex, metres, grams);
    addf(b, "    <layer_filament_lists>\n      <layer_filament_list filament_list=\"0\" "
            "layer_ranges=\"0 %d\" />\n    </layer_filament_lists>\n", j->layers - 1);
    pd_buf_add_str(b, "  </plate>\n</config>\n");
}

/* The plate's G-code as Bambu Studio shapes it: the header block, then per layer M73 L and a
 * relative extrusion of an equal share of the filament (M83), the tray loaded with M620 S. */
static void plate_gcode(pd_buf *b, const sim_printer *p, const char *type, double grams,
                        double mm, double density)
{
    const sim_job *j = &p->job;
    int minutes = (int)(j->total_s / 60), seconds = (int)fmod(j->total_s, 60);
    pd_buf_add_str(b, "; HEADER_BLOCK_START\n; BambuStudio 02.02.02.56\n");
    addf(b, "; model printing time: %dm %ds; total estimated time: %dm %ds\n", minutes, seconds,
         minutes, seconds);
    addf(b, "; total layer number: %d\n", j->layers);
    addf(b, "; total filament length [mm] : %.2f\n", mm);
    addf(b, "; total filament weight [g] : %.2f\n", grams);
    addf(b, "; filament_density: %.2f\n; filament_diameter: %.2f\n", density, FILAMENT_DIAMETER_MM);
    addf(b, "; filament: 1\n; HEADER_BLOCK_END\n\n; CONFIG_BLOCK_START\n; filament_type = %s\n"
            "; CONFIG_BLOCK_END\n\n; EXECUTABLE_BLOCK_START\nM73 P0 R%d\nM83\n", type, minutes);
    pd_buf_add_str(b, "M620 S0A\nT0\nM621 S0A\n");
    double per = mm / j->layers, done = 0;
    for (int l = 1; l <= j->layers; l++) {
        /* the last layer takes what rounding left, so the layers sum to the header's length */
        double e = l == j->layers ? mm - done : round(per * 1e5) / 1e5;
        done += e;
        addf(b, "; CHANGE_LAYER\n; Z_HEIGHT: %.2f\nM73 L%d\nM991 S0 P%d ;notify layer change\n"
                "G1 X%d Y%d E%.5f\n", 0.2 * l, l, l - 1, 100 + l % 50, 100 + l % 37, e);
    }
    pd_buf_add_str(b, "M73 P100 R0\n; EXECUTABLE_BLOCK_END\n");
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void png_chunk(pd_buf *b, const char *type, const unsigned char *data, size_t len)
{
    unsigned char h[8];
    be32(h, (uint32_t)len);
    memcpy(h + 4, type, 4);
    pd_buf_add(b, h, 8);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (len) { /* IEND has no data */
        pd_buf_add(b, data, len);
        crc = crc32(crc, data, (uInt)len);
    }
    be32(h, (uint32_t)crc);
    pd_buf_add(b, h, 4);
}

/* The cover: a disc in the filament's colour on the grey plate. */
static bool thumbnail(pd_buf *b, const char *hex)
{
    unsigned rgb = (unsigned)strtoul(hex, NULL, 16) >> 8; /* RRGGBBAA */
    unsigned char raw[THUMB * (1 + THUMB * 3)];
    for (int y = 0; y < THUMB; y++) {
        unsigned char *row = raw + y * (1 + THUMB * 3);
        row[0] = 0; /* filter: none */
        for (int x = 0; x < THUMB; x++) {
            int dx = x - THUMB / 2, dy = y - THUMB / 2;
            bool in = dx * dx + dy * dy < (THUMB / 3) * (THUMB / 3);
            row[1 + 3 * x] = in ? (unsigned char)(rgb >> 16) : 0x50;
            row[2 + 3 * x] = in ? (unsigned char)(rgb >> 8) : 0x50;
            row[3 + 3 * x] = in ? (unsigned char)rgb : 0x50;
        }
    }
    unsigned char z[sizeof raw + 256];
    uLongf zlen = sizeof z;
    if (compress(z, &zlen, raw, sizeof raw) != Z_OK)
        return false;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13] = {0};
    be32(ihdr, THUMB);
    be32(ihdr + 4, THUMB);
    ihdr[8] = 8; /* bits per channel */
    ihdr[9] = 2; /* RGB */
    pd_buf_add(b, sig, sizeof sig);
    png_chunk(b, "IHDR", ihdr, sizeof ihdr);
    png_chunk(b, "IDAT", z, zlen);
    png_chunk(b, "IEND", NULL, 0);
    return true;
}

static void model_xml(pd_buf *b, const sim_job *j)
{
    pd_buf_add_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<model unit=\"millimeter\" "
                      "xml:lang=\"en-US\" xmlns=\"http://schemas.microsoft.com/3dmanufacturing/core/2015/02\">\n"
                      " <metadata name=\"Application\">BambuStudio-02.02.02.56</metadata>\n"
                      " <metadata name=\"Title\">");
    xml_text(b, j->name);
    pd_buf_add_str(b, "</metadata>\n <resources>\n  <object id=\"1\" type=\"model\">\n   <mesh>\n"
                      "    <vertices>\n");
    for (int v = 0; v < 8; v++)
        addf(b, "     <vertex x=\"%d\" y=\"%d\" z=\"%d\"/>\n", v & 1 ? 20 : 0, v & 2 ? 20 : 0, v & 4 ? 20 : 0);
    static const int tri[12][3] = {{0, 2, 1}, {1, 2, 3}, {4, 5, 6}, {5, 7, 6}, {0, 1, 4}, {1, 5, 4},
                                   {2, 6, 3}, {3, 6, 7}, {0, 4, 2}, {2, 4, 6}, {1, 3, 5}, {3, 7, 5}};
    pd_buf_add_str(b, "    </vertices>\n    <triangles>\n");
    for (int t = 0; t < 12; t++)
        addf(b, "     <triangle v1=\"%d\" v2=\"%d\" v3=\"%d\"/>\n", tri[t][0], tri[t][1], tri[t][2]);
    pd_buf_add_str(b, "    </triangles>\n   </mesh>\n  </object>\n </resources>\n <build>\n"
                      "  <item objectid=\"1\"/>\n </build>\n</model>\n");
}

static const char content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/"
    "package/2006/content-types\">\n <Default Extension=\"rels\" ContentType=\"application/"
    "vnd.openxmlformats-package.relationships+xml\"/>\n <Default Extension=\"model\" ContentType="
    "\"application/vnd.ms-package.3dmanufacturing-3dmodel+xml\"/>\n <Default Extension=\"png\" "
    "ContentType=\"image/png\"/>\n <Default Extension=\"gcode\" ContentType=\"text/x.gcode\"/>\n</Types>\n";
static const char rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Relationships xmlns=\"http://schemas."
    "openxmlformats.org/package/2006/relationships\">\n <Relationship Target=\"/3D/3dmodel.model\" "
    "Id=\"rel-1\" Type=\"http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel\"/>\n"
    "</Relationships>\n";

static bool add_entry(zip_t *z, const char *name, const void *data, size_t len)
{
    zip_source_t *src = zip_source_buffer(z, data, len, 0);
    if (!src)
        return false;
    if (zip_file_add(z, name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
        zip_source_free(src);
        return false;
    }
    return true;
}

void sim_storage_write_job(const sim_printer *p, const sim_tray *t, const char *dir)
{
    const sim_job *j = &p->job;
    const char *type = t && t->mat ? t->mat->type : "PLA";
    const char *hex = t && t->present && strlen(t->colour) >= 6 ? t->colour : "FFFFFFFF";
    if (!name_ok(j->name)) {
        pd_warn(SIM_LOG, "%s: no 3MF for job '%s': not a file name", p->serial, j->name);
        return;
    }
    char folder[PATH_MAX], path[PATH_MAX + 256], tmp[PATH_MAX + 300];
    snprintf(folder, sizeof folder, "%s/%s", dir, p->serial);
    if (mkdir(folder, 0755) && errno != EEXIST) {
        pd_warn(SIM_LOG, "%s: cannot create %s: %s", p->serial, folder, strerror(errno));
        return;
    }
    snprintf(path, sizeof path, "%s/%s.gcode.3mf", folder, j->name);
    snprintf(tmp, sizeof tmp, "%s/.%s.part", folder, j->name);

    double density = density_of(type), grams = j->grams, mm = length_mm(grams, density);
    pd_buf info, gcode, png, model;
    pd_buf_init(&info, 1 << 16);
    pd_buf_init(&gcode, 64 << 20);
    pd_buf_init(&png, 1 << 16);
    pd_buf_init(&model, 1 << 16);
    slice_info(&info, p, type, hex, grams, mm / 1000.0);
    plate_gcode(&gcode, p, type, grams, mm, density);
    bool ok = thumbnail(&png, hex);
    model_xml(&model, j);
    pd_buf *all[] = {&info, &gcode, &png, &model};
    for (size_t i = 0; i < 4; i++)
        ok = ok && !pd_buf_err(all[i]);
    int zerr = 0;
    zip_t *z = ok ? zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr) : NULL;
    ok = z && add_entry(z, "[Content_Types].xml", content_types, sizeof content_types - 1) &&
         add_entry(z, "_rels/.rels", rels, sizeof rels - 1) &&
         add_entry(z, "3D/3dmodel.model", pd_buf_ptr(&model), pd_buf_len(&model)) &&
         add_entry(z, "Metadata/slice_info.config", pd_buf_ptr(&info), pd_buf_len(&info)) &&
         add_entry(z, "Metadata/plate_1.gcode", pd_buf_ptr(&gcode), pd_buf_len(&gcode)) &&
         add_entry(z, "Metadata/plate_1.png", pd_buf_ptr(&png), pd_buf_len(&png));
    if (z && (!ok || zip_close(z))) {
        zip_discard(z);
        ok = false;
    }
    for (size_t i = 0; i < 4; i++)
        pd_buf_free(all[i]);
    /* whole or not at all: a reader never sees half an archive under the job's name */
    if (ok && rename(tmp, path) == 0) {
        chmod(path, 0644);
        pd_info(SIM_LOG, "%s: wrote %s (%.2f g %s)", p->serial, path, grams, type);
    } else {
        unlink(tmp);
        pd_warn(SIM_LOG, "%s: cannot write %s", p->serial, path);
    }
}

void sim_storage_write_truth(const sim_printer *p, const char *dir)
{
    const sim_job *j = &p->job;
    json_t *trays = json_array();
    for (int i = 0; i < j->n_used; i++)
        json_array_append_new(trays, json_pack("{s:i,s:f}", "tray", j->used_tray[i], "grams", j->used_g[i]));
    json_t *o = json_pack("{s:s,s:I,s:s,s:f,s:o}", "name", j->name, "task_id", (json_int_t)j->task_id, "state",
                          sim_phase_name(p->phase), "done", j->total_s > 0 ? j->done_s / j->total_s : 1.0, "trays",
                          trays);
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/%s.truth.json", dir, p->serial);
    snprintf(tmp, sizeof tmp, "%s.part", path);
    if (!o || json_dump_file(o, tmp, JSON_COMPACT) || rename(tmp, path))
        pd_warn(SIM_LOG, "%s: cannot write %s", p->serial, path);
    json_decref(o);
}
