/* Build-time generator: turns the web build (web/dist, made by Vite) into a C table of
 * pd_http_file rows for the daemon to serve (src/api/web.c), so the binary carries its
 * dashboard and nothing is read from disk or fetched at run time.
 *
 *   pd-webgen DIST_DIR out.c
 *
 * Each file gets its content type, an ETag (FNV-1a 64 of its bytes), and gzip (level 9) and
 * brotli (quality 11) variants made here once, kept only where they are smaller; a file under
 * assets/ has a content hash in its name (Vite's output) and is served as immutable. A file
 * whose type is not known fails the build: served as octet-stream it would be a page that
 * does not load. */
#define _XOPEN_SOURCE 700
#include <brotli/encode.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define MAX_FILES 512
#define MAX_FILE (16u << 20)

typedef struct entry {
    char *path;  /* "/assets/x.js" */
    char *full;  /* on disk */
} entry;

static entry files[MAX_FILES];
static size_t nfiles;

static const struct {
    const char *ext, *ctype;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
};

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "pd-webgen: %s: %s\n", what, detail);
    return 1;
}

static const char *ctype_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (!strcmp(dot, types[i].ext))
            return types[i].ctype;
    return NULL;
}

static int walk(const char *dir, const char *rel)
{
    DIR *d = opendir(dir);
    if (!d)
        return fail("cannot open directory", dir);
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        size_t fl = strlen(dir) + strlen(de->d_name) + 2, rl = strlen(rel) + strlen(de->d_name) + 2;
        char *full = malloc(fl), *path = malloc(rl);
        if (!full || !path)
            return fail("out of memory", dir);
        snprintf(full, fl, "%s/%s", dir, de->d_name);
        snprintf(path, rl, "%s/%s", rel, de->d_name);
        struct stat st;
        if (stat(full, &st)) {
            rc = fail("cannot stat", full);
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(full, path);
            free(full);
            free(path);
            continue;
        } else if (nfiles == MAX_FILES) {
            rc = fail("too many files", dir);
        } else if (strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") !=
                   strlen(path)) {
            rc = fail("a name that is not [A-Za-z0-9._-]", path);  /* it goes into a C string */
        } else if (!ctype_of(path)) {
            rc = fail("no content type known for", path);
        } else {
            files[nfiles++] = (entry){path, full};
            continue;
        }
        free(full);
        free(path);
    }
    closedir(d);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(MAX_FILE);
    size_t n = buf ? fread(buf, 1, MAX_FILE, f) : 0;
    bool whole = buf && feof(f) && !ferror(f);
    fclose(f);
    if (!whole) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static unsigned char *gzip_of(const unsigned char *in, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)len);
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (!out || deflate(&z, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&z);
        free(out);
        return NULL;
    }
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

static unsigned char *brotli_of(const unsigned char *in, size_t len, size_t *out_len)
{
    size_t cap = BrotliEncoderMaxCompressedSize(len);
    unsigned char *out = cap ? malloc(cap) : NULL;
    if (!out)
        return NULL;
    *out_len = cap;
    if (!BrotliEncoderCompress(BROTLI_MAX_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC,
                               len, in, out_len, out)) {
        free(out);
        return NULL;
    }
    return out;
}

static void emit_bytes(FILE *o, const char *name, size_t i, const unsigned char *b, size_t n)
{
    fprintf(o, "static const unsigned char %s%zu[%zu] = {", name, i, n ? n : 1);
    for (size_t k = 0; k < n; k++)
        fprintf(o, "%s%u,", k % 24 ? "" : "\n", b[k]);
    fprintf(o, "%s};\n", n ? "" : "0");
}

static uint64_t fnv1a(const unsigned char *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: pd-webgen DIST_DIR out.c\n");
        return 2;
    }
    if (walk(argv[1], ""))
        return 1;
    if (!nfiles)
        return fail("no files in", argv[1]);
    qsort(files, nfiles, sizeof *files, entry_cmp);
    FILE *o = fopen(argv[2], "w");
    if (!o)
        return fail("cannot write", argv[2]);
    fprintf(o, "/* generated by pd-webgen from the web build: do not edit */\n"
               "#include \"api/web.h\"\n\n");
    struct {
        size_t len, gz_len, br_len;
        uint64_t hash;
    } meta[MAX_FILES];
    for (size_t i = 0; i < nfiles; i++) {
        size_t len, gz_len = 0, br_len = 0;
        unsigned char *b = slurp(files[i].full, &len);
        if (!b)
            return fail("cannot read (or over 16 MiB)", files[i].full);
        unsigned char *gz = gzip_of(b, len, &gz_len), *br = brotli_of(b, len, &br_len);
        if (!gz || !br)
            return fail("cannot compress", files[i].full);
        emit_bytes(o, "body", i, b, len);
        if (gz_len >= len)
            gz_len = 0;
        else
            emit_bytes(o, "gz", i, gz, gz_len);
        if (br_len >= len)
            br_len = 0;
        else
            emit_bytes(o, "br", i, br, br_len);
        meta[i].len = len;
        meta[i].gz_len = gz_len;
        meta[i].br_len = br_len;
        meta[i].hash = fnv1a(b, len);
        free(b);
        free(gz);
        free(br);
    }
    fprintf(o, "\nstatic const pd_http_file files[%zu] = {\n", nfiles);
    for (size_t i = 0; i < nfiles; i++) {
        fprintf(o, "    {\"%s\", \"%s\", \"\\\"%016" PRIx64 "\\\"\", %s, body%zu, ", files[i].path,
                ctype_of(files[i].path), meta[i].hash,
                strncmp(files[i].path, "/assets/", 8) ? "false" : "true", i);
        if (meta[i].gz_len)
            fprintf(o, "gz%zu, ", i);
        else
            fprintf(o, "NULL, ");
        if (meta[i].br_len)
            fprintf(o, "br%zu, ", i);
        else
            fprintf(o, "NULL, ");
        fprintf(o, "%zu, %zu, %zu},\n", meta[i].len, meta[i].gz_len, meta[i].br_len);
    }
    fprintf(o, "};\n\nconst pd_http_site pd_web_site = {files, %zu, \"/index.html\"};\n", nfiles);
    if (fclose(o))
        return fail("cannot write", argv[2]);
    return 0;
}
