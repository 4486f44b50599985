/*
 * Error names, and the detail of the last failure in each thread. Errors travel as return
 * values; the detail (which field, which value) rides beside them in thread-local storage,
 * the way dlerror() does, so the hot path never formats a message unless it fails.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The detail is a pointer, so that refusals on the hot path (a lost lock race) record a
 * fixed text with one store instead of formatting one. */
static _Thread_local char formatted[256];
static _Thread_local const char *last_detail;

int hsi_fail(int err, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(formatted, sizeof(formatted), fmt, ap);
        va_end(ap);
        last_detail = formatted;
        return err;
}

int hsi_fail_lit(int err, const char *text)
{
        last_detail = text;
        return err;
}

void hsi_clear_detail(void)
{
        last_detail = NULL;
}

const char *hshm_last_detail(void)
{
        return last_detail != NULL ? last_detail : "";
}

const char *hshm_strerror(int err)
{
        switch (err) {
        case 0:
                return "success";
        case HSHM_ENOTSEG:
                return "not a hedgeshm segment";
        case HSHM_EVERSION:
                return "segment made by another format version of hedgeshm";
        case HSHM_ELAYOUT:
                return "segment made by a build with another memory layout";
        case HSHM_ETRUNC:
                return "segment is truncated";
        case HSHM_ECORRUPT:
                return "segment holds a corrupt value";
        case HSHM_ESTALE:
                return "stale token: the lock it names is no longer current";
        case HSHM_ESTATE:
                return "position is not in a state this operation starts from";
        case HSHM_ENOKEY:
                return "no slot for this position";
        case HSHM_EINIT:
                return "segment never finished initialising";
        case -EBUSY:
                return "position is busy: another owner holds it";
        case -ENOSPC:
                return "no space left (position table full, or /dev/shm full)";
        case -EAGAIN:
                return "slot is being written by another process; try again";
        case -EEXIST:
                return "segment already exists";
        case -ENOENT:
                return "segment not found";
        case -EACCES:
        case -EPERM:
                return "permission denied";
        case -EROFS:
                return "segment was opened read-only";
        case -EOVERFLOW:
                return "slot's generation counter is exhausted";
        case -EINVAL:
                return "invalid argument";
        case -ERANGE:
                return "slot number out of range";
        default:
                return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
        }
}
