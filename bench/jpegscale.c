/* How long libjpeg-turbo takes to decode one JPEG at each of its DCT scales n/8, the choice
 * src/camera/decode.c makes for the smaller sizes (docs/camera.md). Not part of the build:
 *   cc -O2 -o /tmp/jpegscale bench/jpegscale.c -ljpeg && /tmp/jpegscale FRAME.jpg [RUNS]
 * A 1280x720 frame like a port-6000 camera's: ffmpeg -f lavfi -i testsrc2=size=1280x720
 * -frames:v 1 -q:v 3 FRAME.jpg */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <jpeglib.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void decode(const unsigned char *jpeg, unsigned long len, unsigned n)
{
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr e;
    d.err = jpeg_std_error(&e);  /* a bad file ends the program: this is a benchmark */
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, jpeg, len);
    jpeg_read_header(&d, TRUE);
    d.scale_num = n;
    d.scale_denom = 8;
    d.out_color_space = JCS_RGB;
    jpeg_start_decompress(&d);
    unsigned char *rgb = malloc((size_t)d.output_width * d.output_height * 3);
    while (rgb && d.output_scanline < d.output_height) {
        JSAMPROW row = rgb + (size_t)d.output_scanline * d.output_width * 3;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_abort_decompress(&d);
    jpeg_destroy_decompress(&d);
    free(rgb);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FRAME.jpg [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 300;
    FILE *f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END)) {
        perror(argv[1]);
        return 1;
    }
    long len = ftell(f);
    unsigned char *jpeg = len > 0 ? malloc((size_t)len) : NULL;
    rewind(f);
    if (!jpeg || fread(jpeg, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }
    fclose(f);
    for (unsigned n = 1; n <= 8; n++) {
        decode(jpeg, (unsigned long)len, n);  /* warm */
        double t0 = now_s();
        for (int i = 0; i < runs; i++)
            decode(jpeg, (unsigned long)len, n);
        printf("%u/8: %.2f ms\n", n, (now_s() - t0) / runs * 1e3);
    }
    free(jpeg);
    return 0;
}
