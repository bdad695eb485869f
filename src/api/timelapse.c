/* /api/v1/timelapses: the timelapses printdeck made of each print (camera/timelapse.h), listed
 * by the inventory's rules, their videos downloaded (with byte ranges, so a browser's <video>
 * seeks), deleted; /api/v1/jobs/{id}/timelapse the video of a job. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "camera/timelapse.h"
#include "http/range.h"

/* The most one range reply carries: it is read on the loop, from the page cache, like a
 * piece of a whole download; a player asks again for what follows (RFC 9110 §14.2: a client
 * takes the range the server sends). */
#define RANGE_MAX (512 * 1024)

static void tl_list(pd_req *r) { pd_api_table_reply(r, pd_tl_list_open, false, NULL); }

static void tl_fail(pd_req *r, pd_err rc, bool by_job, int64_t id)
{
    if (rc != PD_ERR_NOTFOUND)
        pd_req_reply_error(r, rc, "%s", pd_strerror(rc));
    else if (by_job)
        pd_req_reply_error(r, rc, "Job %lld has no timelapse.", (long long)id);
    else
        pd_req_reply_error(r, rc, "No timelapse with ID %lld.", (long long)id);
}

static bool visible_or_404(pd_req *r, int64_t printer_id, int64_t id)
{
    const pd_ident *who = pd_req_ident(r);
    if (!who->nprinters || (printer_id && pd_auth_sees(who, printer_id)))
        return true;
    tl_fail(r, PD_ERR_NOTFOUND, false, id);
    return false;
}

static void tl_get(pd_req *r)
{
    int64_t id;
    json_t *o = NULL;
    if (!pd_api_path_id(r, "a timelapse id (integer) expected", &id))
        return;
    pd_err rc = pd_tl_get(((pd_app *)pd_req_app(r))->db, id, &o);
    if (rc) {
        tl_fail(r, rc, false, id);
        return;
    }
    json_t *pid = json_object_get(o, "printer_id");
    if (visible_or_404(r, json_is_integer(pid) ? json_integer_value(pid) : 0, id))
        pd_req_reply_json(r, 200, o);
    else
        json_decref(o);
}

static void tl_delete(pd_req *r)
{
    pd_app *app = pd_req_app(r);
    int64_t id, size, printer_id;
    char path[PD_CFG_STR + 128];
    if (!pd_api_path_id(r, "a timelapse id (integer) expected", &id))
        return;
    pd_err rc = pd_tl_video(app->db, "", id, false, path, sizeof path, &size, &printer_id);
    if (!rc && !visible_or_404(r, printer_id, id))
        return;
    if (!rc)
        rc = app->timelapse ? pd_tl_delete(app->timelapse, id) : PD_ERR_UNSUPPORTED;
    if (rc)
        tl_fail(r, rc, false, id);
    else
        pd_req_reply_raw(r, 204, NULL, "", 0);
}

/* --- the video ------------------------------------------------------------------------------- */

static void video_reply(pd_req *r, bool by_job)
{
    pd_app *app = pd_req_app(r);
    int64_t id, size, printer_id;
    char dir[PD_CFG_STR + 16], path[PD_CFG_STR + 128], range[128], cr[96];
    if (!pd_api_path_id(r, by_job ? "a job id (integer) expected" : "a timelapse id (integer) expected", &id))
        return;
    snprintf(dir, sizeof dir, "%s/timelapse", app->cfg->data_dir);
    pd_err rc = pd_tl_video(app->db, dir, id, by_job, path, sizeof path, &size, &printer_id);
    if (rc) {
        tl_fail(r, rc, by_job, id);
        return;
    }
    if (!visible_or_404(r, printer_id, id))
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        if (fd >= 0)
            close(fd);
        pd_req_reply_error(r, PD_ERR_NOTFOUND, "The video of this timelapse is gone from the disk.");
        return;
    }
    size = st.st_size;
    pd_req_add_header(r, "Accept-Ranges", "bytes");
    pd_req_add_header(r, "Cache-Control", "private, max-age=86400");
    int64_t from = 0, to = 0;
    pd_http_range want = pd_req_header(r, "range", range, sizeof range) ? pd_http_range_parse(range, size, &from, &to)
                                                                         : PD_RANGE_NONE;
    if (want == PD_RANGE_UNSATISFIABLE) {
        close(fd);
        snprintf(cr, sizeof cr, "bytes */%lld", (long long)size);
        pd_req_add_header(r, "Content-Range", cr);
        pd_req_reply_raw(r, 416, "text/plain", "", 0);
        return;
    }
    if (want == PD_RANGE_OK) {
        if (to - from + 1 > RANGE_MAX)
            to = from + RANGE_MAX - 1;
        char *out = pd_req_reply_alloc(r, (size_t)(to - from + 1));
        ssize_t n = out ? pread(fd, out, (size_t)(to - from + 1), from) : -1;
        close(fd);
        if (n != to - from + 1) {
            pd_req_reply_error(r, out ? PD_ERR_IO : PD_ERR_NOMEM, "cannot read the video");
            return;
        }
        snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)from, (long long)to, (long long)size);
        pd_req_add_header(r, "Content-Range", cr);
        pd_req_reply_commit(r, 206, "video/mp4");
        return;
    }
    pd_api_reply_file(r, fd, size, "video/mp4");
}

static void tl_video(pd_req *r) { video_reply(r, false); }
static void job_video(pd_req *r) { video_reply(r, true); }

const pd_route pd_api_timelapse_routes[] = {
    {"GET", "/api/v1/timelapses", tl_list, 0},
    {"GET", "/api/v1/timelapses/{id}", tl_get, 0},
    {"GET", "/api/v1/timelapses/{id}/video", tl_video, 0},
    {"DELETE", "/api/v1/timelapses/{id}", tl_delete, 0},
    {"GET", "/api/v1/jobs/{id}/timelapse", job_video, 0},
};
const size_t pd_api_timelapse_nroutes = sizeof pd_api_timelapse_routes / sizeof pd_api_timelapse_routes[0];
