#include <stdarg.h>
#include <stdio.h>

#include "camera/source.h"

void pd_cam_end_tell(pd_cam_end *e, pd_err rc, const char *fmt, ...)
{
    if (e->told)
        return;
    e->told = true;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    e->down(rc, why, e->ud);
}
