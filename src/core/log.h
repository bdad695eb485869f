/* Levelled logging to stderr, plain text or JSON lines. Loop thread and workers may log.
 * Every message is escaped (pd_log_escape) before it is written, in either format, so text
 * that came from outside (a client, a printer, an imported file) cannot forge a line. */
#ifndef PD_LOG_H
#define PD_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum pd_log_level { PD_LOG_DEBUG, PD_LOG_INFO, PD_LOG_WARN, PD_LOG_ERROR } pd_log_level;

void pd_log_setup(pd_log_level min, bool json);
int pd_log_level_parse(const char *s, pd_log_level *out); /* 0 on success */
/* s with what could end a line, forge one or drive a terminal written as an escape: C0
 * controls and DEL (\n \r \t, else \xHH), C1 controls (U+0080-U+009F, some terminals' CSI)
 * as \u00HH, bytes that are not UTF-8 as \xHH, and the backslash as \\ so that the escaped form
 * reads back one way. Cut before an escape that would not fit; always terminated (outlen > 0).
 * Returns out. Also for the command line's output of outside text. */
char *pd_log_escape(char *out, size_t outlen, const char *s);
void pd_log(pd_log_level lvl, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pd_debug(mod, ...) pd_log(PD_LOG_DEBUG, mod, __VA_ARGS__)
#define pd_info(mod, ...)  pd_log(PD_LOG_INFO, mod, __VA_ARGS__)
#define pd_warn(mod, ...)  pd_log(PD_LOG_WARN, mod, __VA_ARGS__)
#define pd_error(mod, ...) pd_log(PD_LOG_ERROR, mod, __VA_ARGS__)

#endif
