/* The one renderer of a channel's own titles and texts: "{name}" is a fact of the message,
 * "{{" and "}}" are braces. A template is checked when it is configured, so a delivery never
 * meets one it cannot say; the output is bounded by the caller's buffer. */
#include <stdio.h>
#include <string.h>

#include "notify/notify.h"

const char *const pd_notify_fact_names[PD_NF_COUNT] = {
    [PD_NF_PRINTER] = "printer",       [PD_NF_JOB] = "job",           [PD_NF_PROGRESS] = "progress",
    [PD_NF_LAYER] = "layer",           [PD_NF_DURATION] = "duration", [PD_NF_ETA] = "eta",
    [PD_NF_FINISH_TIME] = "finish_time", [PD_NF_FILAMENT] = "filament", [PD_NF_SPOOL] = "spool",
    [PD_NF_SHORTFALL_G] = "shortfall_g", [PD_NF_HMS_CODE] = "hms_code", [PD_NF_HMS_TEXT] = "hms_text",
    [PD_NF_HMS_URL] = "hms_url",       [PD_NF_REASON] = "reason",     [PD_NF_URL] = "url",
};

static int fact_of(const char *name, size_t len)
{
    for (int i = 0; i < PD_NF_COUNT; i++)
        if (strlen(pd_notify_fact_names[i]) == len && !strncmp(pd_notify_fact_names[i], name, len))
            return i;
    return -1;
}

/* Walks tpl: each literal run and each fact in turn to emit; false with why at the first
 * fault. The checker and the renderer share it, so they cannot disagree. */
typedef void (*emit_fn)(const char *s, size_t len, void *ud);

static bool walk(const char *tpl, emit_fn emit, void *ud, const pd_notify_msg *m, char *why, size_t whylen)
{
    for (const char *p = tpl; *p;) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            emit(p, 1, ud);
            p += 2;
        } else if (*p == '}') {
            snprintf(why, whylen, "a '}' without its '{' at byte %zu (write '}}' for a brace)", (size_t)(p - tpl) + 1);
            return false;
        } else if (*p == '{') {
            const char *end = strchr(p + 1, '}');
            size_t len = end ? (size_t)(end - p - 1) : 0;
            int f = end ? fact_of(p + 1, len) : -1;
            if (!end) {
                snprintf(why, whylen, "a '{' left open at byte %zu (write '{{' for a brace)", (size_t)(p - tpl) + 1);
                return false;
            }
            if (f < 0) {
                snprintf(why, whylen, "unknown placeholder {%.*s} (docs/notify.md lists them)", (int)(len > 40 ? 40 : len),
                         p + 1);
                return false;
            }
            if (m) {
                const char *v = f == PD_NF_PRINTER ? m->printer : m->facts[f];
                emit(v, strlen(v), ud);
            }
            p = end + 1;
        } else {
            size_t run = strcspn(p, "{}");
            emit(p, run, ud);
            p += run;
        }
    }
    return true;
}

static void emit_none(const char *s, size_t len, void *ud)
{
    (void)s;
    (void)len;
    (void)ud;
}

pd_err pd_notify_tpl_check(const char *tpl, char *why, size_t whylen)
{
    if (strlen(tpl) > PD_NOTIFY_TPL_MAX) {
        snprintf(why, whylen, "longer than %d bytes", PD_NOTIFY_TPL_MAX);
        return PD_ERR_FIELD;
    }
    for (const char *p = tpl; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t') {
            snprintf(why, whylen, "has control characters");
            return PD_ERR_FIELD;
        }
    return walk(tpl, emit_none, NULL, NULL, why, whylen) ? PD_OK : PD_ERR_FIELD;
}

typedef struct out_buf {
    char *s;
    size_t len, cap;
} out_buf;

static void emit_out(const char *s, size_t len, void *ud)
{
    out_buf *o = ud;
    size_t room = o->cap - 1 - o->len;
    if (len > room) {
        len = room;
        /* not in the middle of a UTF-8 sequence: back to the start of the one cut */
        while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    memcpy(o->s + o->len, s, len);
    o->len += len;
    o->s[o->len] = '\0';
}

void pd_notify_tpl_render(const char *tpl, const pd_notify_msg *m, char *out, size_t cap)
{
    char why[8];
    out_buf o = {out, 0, cap};
    out[0] = '\0';
    walk(tpl, emit_out, &o, m, why, sizeof why);
}
