/* A printer's storage: for each job, the `.gcode.3mf` Bambu Studio would have sent, written
 * under --storage-dir/<serial>/ (that printer's FTPS root, scripts/ftps.sh). Its filament
 * figures are what the job is sliced for: slice_info.config's used_g/used_m per filament, and
 * plate_1.gcode extrudes exactly that length spread evenly over its layers with the tool
 * changes between filaments, as the job feeds them over its print time; <name>.truth.json is
 * what each spool in each tray really gave (a rollover splits a filament over two trays, a swap
 * a tray over two spools) (docs/simulator.md). Layout after Bambu Studio's bbs_3mf.cpp (docs/ftps.md). */
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

/* Per filament: its grams, and its length in mm as 1.75 mm filament of its density. */
typedef struct fil_figures {
    double grams[SIM_MAX_FIL], mm[SIM_MAX_FIL], density[SIM_MAX_FIL];
} fil_figures;

static void slice_info(pd_buf *b, const sim_printer *p, const fil_figures *ff)
{
    const sim_job *j = &p->job;
    pd_buf_add_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config>\n  <header>\n"
                      "    <header_item key=\"X-BBL-Client-Type\" value=\"slicer\"/>\n"
                      "    <header_item key=\"X-BBL-Client-Version\" value=\"02.02.02.56\"/>\n"
                      "  </header>\n  <plate>\n    <metadata key=\"index\" value=\"1\"/>\n");
    addf(b, "    <metadata key=\"printer_model_id\" value=\"%s\"/>\n", p->model->key);
    addf(b, "    <metadata key=\"nozzle_diameters\" value=\"0.4\"/>\n");
    addf(b, "    <metadata key=\"prediction\" value=\"%d\"/>\n", (int)lround(j->total_s));
    addf(b, "    <metadata key=\"weight\" value=\"%.2f\"/>\n", j->grams);
    pd_buf_add_str(b, "    <object identify_id=\"100\" name=\"");
    xml_text(b, j->name);
    pd_buf_add_str(b, "\" skipped=\"false\" />\n");
    for (int i = 0; i < j->n_fil; i++)
        addf(b, "    <filament id=\"%d\" tray_info_idx=\"%s\" type=\"%s\" color=\"#%.6s\" used_m=\"%.2f\" "
                "used_g=\"%.2f\" />\n", i + 1, j->fil_mat[i]->info_idx, j->fil_mat[i]->type, j->fil_colour[i],
             ff->mm[i] / 1000.0, ff->grams[i]);
    pd_buf_add_str(b, "    <layer_filament_lists>\n      <layer_filament_list filament_list=\"");
    for (int i = 0; i < j->n_fil; i++)
        addf(b, "%s%d", i ? " " : "", i);
    addf(b, "\" layer_ranges=\"0 %d\" />\n    </layer_filament_lists>\n", j->layers - 1);
    pd_buf_add_str(b, "  </plate>\n</config>\n");
}

/* "a,b,c" of one figure per filament */
static void add_list(pd_buf *b, const sim_job *j, const double *v, const char *fmt)
{
    for (int i = 0; i < j->n_fil; i++) {
        if (i)
            pd_buf_add_str(b, ",");
        addf(b, fmt, v[i]);
    }
}

/* The plate's G-code as Bambu Studio shapes it: the header block, then per layer M73 L and,
 * for each filament in the layer's order (sim_job_filament_at), a tool change when another
 * filament was loaded (M620 S<n>A, T<n>, M621 S<n>A, then a purge) and its extrusion, so each
 * filament's layers carry an equal share of its length (M83: relative). */
static void plate_gcode(pd_buf *b, const sim_printer *p, const fil_figures *ff)
{
    const sim_job *j = &p->job;
    int minutes = (int)(j->total_s / 60), seconds = (int)fmod(j->total_s, 60);
    double diam[SIM_MAX_FIL], done[SIM_MAX_FIL] = {0};
    for (int i = 0; i < j->n_fil; i++)
        diam[i] = FILAMENT_DIAMETER_MM;
    pd_buf_add_str(b, "; HEADER_BLOCK_START\n; BambuStudio 02.02.02.56\n");
    addf(b, "; model printing time: %dm %ds; total estimated time: %dm %ds\n", minutes, seconds,
         minutes, seconds);
    addf(b, "; total layer number: %d\n; total filament length [mm] : ", j->layers);
    add_list(b, j, ff->mm, "%.2f");
    pd_buf_add_str(b, "\n; total filament weight [g] : ");
    add_list(b, j, ff->grams, "%.2f");
    pd_buf_add_str(b, "\n; filament_density: ");
    add_list(b, j, ff->density, "%.2f");
    pd_buf_add_str(b, "\n; filament_diameter: ");
    add_list(b, j, diam, "%.2f");
    pd_buf_add_str(b, "\n; filament: ");
    for (int i = 0; i < j->n_fil; i++)
        addf(b, "%s%d", i ? "," : "", i + 1);
    pd_buf_add_str(b, "\n; HEADER_BLOCK_END\n\n; CONFIG_BLOCK_START\n; filament_type = ");
    for (int i = 0; i < j->n_fil; i++)
        addf(b, "%s%s", i ? ";" : "", j->fil_mat[i]->type);
    addf(b, "\n; CONFIG_BLOCK_END\n\n; EXECUTABLE_BLOCK_START\nM73 P0 R%d\nM83\n", minutes);
    int loaded = -1;
    for (int l = 1; l <= j->layers; l++) {
        addf(b, "; CHANGE_LAYER\n; Z_HEIGHT: %.2f\nM73 L%d\nM991 S0 P%d ;notify layer change\n", 0.2 * l, l, l - 1);
        for (int k = 0; k < j->n_fil; k++) {
            int f = sim_job_filament_at(j, l - 1, k);
            if (ff->mm[f] <= 0)
                continue;
            /* the last layer takes what rounding left, so the layers sum to the header's length */
            double e = l == j->layers ? ff->mm[f] - done[f] : round(ff->mm[f] / j->layers * 1e5) / 1e5;
            done[f] += e;
            double purge = 0;
            if (f != loaded) {
                addf(b, "M620 S%dA\nT%d\nM621 S%dA\n", f, f, f);
                purge = loaded < 0 ? 0 : round(e * 0.2 * 1e5) / 1e5;  /* the flush into the wiper */
                if (purge > 0)
                    addf(b, "G1 E%.5f F300 ; flush\n", purge);
                loaded = f;
            }
            addf(b, "G1 X%d Y%d E%.5f\n", 100 + l % 50, 100 + l % 37, e - purge);
        }
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

/* dir/<serial>/, made if missing; false (logged) when it cannot be. */
static bool job_folder(const sim_printer *p, const char *dir, char *folder, size_t len)
{
    if (!name_ok(p->job.name)) {
        pd_warn(SIM_LOG, "%s: no file for job '%s': not a file name", p->serial, p->job.name);
        return false;
    }
    snprintf(folder, len, "%s/%s", dir, p->serial);
    if (mkdir(folder, 0755) && errno != EEXIST) {
        pd_warn(SIM_LOG, "%s: cannot create %s: %s", p->serial, folder, strerror(errno));
        return false;
    }
    return true;
}

/* whole or not at all: a reader never sees half a file under the job's name */
static void publish(const sim_printer *p, bool ok, const char *tmp, const char *path)
{
    if (ok && rename(tmp, path) == 0) {
        chmod(path, 0644);
        pd_info(SIM_LOG, "%s: wrote %s (%.2f g)", p->serial, path, p->job.grams);
    } else {
        unlink(tmp);
        pd_warn(SIM_LOG, "%s: cannot write %s", p->serial, path);
    }
}

void sim_storage_write_job(const sim_printer *p, const char *dir)
{
    const sim_job *j = &p->job;
    char folder[PATH_MAX], path[PATH_MAX + 256], tmp[PATH_MAX + 300];
    if (!job_folder(p, dir, folder, sizeof folder))
        return;
    snprintf(path, sizeof path, "%s/%s.gcode.3mf", folder, j->name);
    snprintf(tmp, sizeof tmp, "%s/.%s.part", folder, j->name);

    fil_figures ff;
    for (int i = 0; i < j->n_fil; i++) {
        ff.grams[i] = j->fil_grams[i];
        ff.density[i] = density_of(j->fil_mat[i]->type);
        ff.mm[i] = length_mm(ff.grams[i], ff.density[i]);
    }
    pd_buf info, gcode, png, model;
    pd_buf_init(&info, 1 << 16);
    pd_buf_init(&gcode, 64 << 20);
    pd_buf_init(&png, 1 << 16);
    pd_buf_init(&model, 1 << 16);
    slice_info(&info, p, &ff);
    plate_gcode(&gcode, p, &ff);
    bool ok = thumbnail(&png, j->fil_colour[0]);
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
    publish(p, ok, tmp, path);
}

void sim_storage_write_truth(const sim_printer *p, const char *dir)
{
    const sim_job *j = &p->job;
    char folder[PATH_MAX], path[PATH_MAX + 256], tmp[PATH_MAX + 300];
    if (!job_folder(p, dir, folder, sizeof folder))
        return;
    snprintf(path, sizeof path, "%s/%s.truth.json", folder, j->name);
    snprintf(tmp, sizeof tmp, "%s/.%s.truth.part", folder, j->name);
    json_t *trays = json_array();
    for (int i = 0; i < j->n_truth; i++) {
        int t = j->truth[i].tray;
        json_array_append_new(trays, json_pack("{s:i,s:i,s:i,s:s,s:f}", "unit", t == SIM_TRAY_EXT ? 255 : t / 4, "slot",
                                               t == SIM_TRAY_EXT ? 0 : t % 4, "spool", (int)j->truth[i].spool,
                                               "uuid", j->truth[i].uuid, "grams", j->truth[i].grams));
    }
    json_t *o = json_pack("{s:s,s:o}", "job", j->name, "trays", trays);
    publish(p, o && !json_dump_file(o, tmp, JSON_COMPACT), tmp, path);
    json_decref(o);
}
