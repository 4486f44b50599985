/*
 * The Python module `hedgeshm`: the bots are Python (MT5's API for bots is the MetaTrader5
 * package), so this puts the library behind the seed tracker's method names.
 *
 * HedgeTracker is one handle on a segment. The seed's API has no place for fencing tokens, so
 * the tracker keeps the token of every lock it took, keyed by (group, symbol), and the
 * seed-named methods (lock_position, activate_position, reset_position) use it; the
 * explicit-token methods (lock, activate, reset, tag) hand tokens to the caller. Seed-named
 * methods answer a refused transition with False, as the seed did; everything else that
 * fails raises an exception of the hierarchy below, carrying the library's code and detail.
 *
 * Threads: the library's handle may be used from many threads, and every call that may wait
 * (for another process to finish a write, bounded to about a second) runs with the GIL
 * released. What the tracker itself keeps (the token maps, the status cache) sits under one
 * mutex, whose sections only touch dicts of exact str tuples, ints and status dicts: they
 * never run Python code, so holding the mutex never waits for the GIL. Calls in flight are
 * counted, and close() waits for them to leave before it frees the handle, so another thread
 * is never left using it.
 *
 * fork(): a handle must not be used in a child (the library's rule). A child of a process
 * that had trackers sees them refuse every call, and their deallocation there leaves the
 * parent's registration in the segment alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hedgeshm.h"

/* Run stmt with the GIL released: for every library call that may wait. */
#define WITHOUT_GIL(stmt)                                                                          \
        do {                                                                                       \
                PyThreadState *gil_state_ = PyEval_SaveThread();                                   \
                stmt;                                                                              \
                PyEval_RestoreThread(gil_state_);                                                  \
        } while (0)

/* Bumped in every child after fork(), so trackers can tell they were opened by a parent. */
static volatile unsigned long fork_generation;

static void after_fork_in_child(void)
{
        fork_generation++;
}

/* ---- exceptions ------------------------------------------------------------------------ */

static PyObject *HedgeShmError, *NotFoundError, *AccessError, *ExistsError, *InvalidError,
    *CorruptSegmentError, *VersionError, *LayoutError, *TableFullError, *StaleTokenError,
    *StateError, *BusyError, *NoKeyError, *NoTagError, *ReadOnlyError, *TryAgainError,
    *ExhaustedError;

struct exc_spec {
        PyObject **type;
        const char *name;
        PyObject **builtin; /* a second base, so `except FileNotFoundError` works too */
        const char *doc;
};

static const struct exc_spec exc_specs[] = {
    {&NotFoundError, "NotFoundError", &PyExc_FileNotFoundError, "The segment does not exist."},
    {&AccessError, "AccessError", &PyExc_PermissionError, "Permission denied (EACCES, EPERM)."},
    {&ExistsError, "ExistsError", &PyExc_FileExistsError, "The segment already exists."},
    {&InvalidError, "InvalidError", &PyExc_ValueError,
     "An invalid argument: segment name, key, hedge symbol, capacity, lease."},
    {&CorruptSegmentError, "CorruptSegmentError", NULL,
     "Not a hedgeshm segment, truncated, never initialised, or holding a corrupt value."},
    {&VersionError, "VersionError", NULL, "Segment made by another format version."},
    {&LayoutError, "LayoutError", NULL, "Segment made by a build with another memory layout."},
    {&TableFullError, "TableFullError", NULL, "Every position slot holds a key (ENOSPC)."},
    {&StaleTokenError, "StaleTokenError", NULL, "The token's lock is no longer current."},
    {&StateError, "StateError", NULL,
     "The position is not in a state this transition starts from."},
    {&BusyError, "BusyError", NULL, "The position, or the syncer role, is held by another owner."},
    {&NoKeyError, "NoKeyError", &PyExc_LookupError, "No slot holds this position (yet)."},
    {&NoTagError, "NoTagError", &PyExc_ValueError, "The text holds no valid hedgeshm order tag."},
    {&ReadOnlyError, "ReadOnlyError", NULL, "The tracker was opened read-only."},
    {&TryAgainError, "TryAgainError", NULL,
     "A slot is being written by a process that did not finish in time (EAGAIN)."},
    {&ExhaustedError, "ExhaustedError", NULL, "The slot's generation counter is exhausted."},
};

static PyObject *exception_for(int err)
{
        switch (err) {
        case -ENOENT:
                return NotFoundError;
        case -EACCES:
        case -EPERM:
                return AccessError;
        case -EEXIST:
                return ExistsError;
        case -EINVAL:
                return InvalidError;
        case HSHM_ENOTSEG:
        case HSHM_ETRUNC:
        case HSHM_ECORRUPT:
        case HSHM_EINIT:
                return CorruptSegmentError;
        case HSHM_EVERSION:
                return VersionError;
        case HSHM_ELAYOUT:
                return LayoutError;
        case -ENOSPC:
                return TableFullError;
        case HSHM_ESTALE:
                return StaleTokenError;
        case HSHM_ESTATE:
                return StateError;
        case -EBUSY:
                return BusyError;
        case HSHM_ENOKEY:
                return NoKeyError;
        case HSHM_ENOTAG:
                return NoTagError;
        case -EROFS:
                return ReadOnlyError;
        case -EAGAIN:
                return TryAgainError;
        case -EOVERFLOW:
                return ExhaustedError;
        default:
                return HedgeShmError;
        }
}

/*
 * Raise the exception for library result err from operation what. detail NULL takes the
 * library's detail, which must then be read in the thread that made the failing call, before
 * it makes another: that is why every caller raises right after the call returns.
 */
static PyObject *raise_error(int err, const char *what, const char *detail)
{
        PyObject *type = exception_for(err), *msg, *exc, *code, *eno, *det;

        if (detail == NULL)
                detail = hshm_last_detail();
        if (detail[0] != '\0')
                msg = PyUnicode_FromFormat("%s: %s: %s", what, hshm_strerror(err), detail);
        else
                msg = PyUnicode_FromFormat("%s: %s", what, hshm_strerror(err));
        if (msg == NULL)
                return NULL;
        exc = PyObject_CallOneArg(type, msg);
        Py_DECREF(msg);
        if (exc == NULL)
                return NULL;
        code = PyLong_FromLong(err);
        eno = err < 0 && err > HSHM_ENOTSEG ? PyLong_FromLong(-err) : Py_NewRef(Py_None);
        det = PyUnicode_DecodeUTF8(detail, (Py_ssize_t)strlen(detail), "replace");
        /* errno is set but strerror left unset on the OSError subclasses, so that str() stays
         * the message above instead of OSError's "[Errno n] strerror". */
        if (code != NULL && eno != NULL && det != NULL &&
            PyObject_SetAttrString(exc, "code", code) == 0 &&
            PyObject_SetAttrString(exc, "errno", eno) == 0 &&
            PyObject_SetAttrString(exc, "detail", det) == 0)
                PyErr_SetObject(type, exc);
        Py_XDECREF(code);
        Py_XDECREF(eno);
        Py_XDECREF(det);
        Py_DECREF(exc);
        return NULL;
}

/* ---- arguments ------------------------------------------------------------------------- */

/* Python before 3.13 declares PyArg_ParseTupleAndKeywords's keyword list without const; it
 * never writes to it. */
#define KWLIST(list) ((char **)(list))

/*
 * Arguments of a METH_FASTCALL | METH_KEYWORDS method into out[], matched to names[]
 * (NULL-terminated) by position or keyword; the first nreq are required, the others are
 * NULL when not given. Hand-written so the hot methods pay no format-string parsing.
 */
static int get_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                    const char *const names[], int nreq, PyObject *out[])
{
        Py_ssize_t n = 0, nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

        while (names[n] != NULL)
                n++;
        if (nargs > n) {
                PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fn, n,
                             nargs);
                return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++)
                out[i] = i < nargs ? args[i] : NULL;
        for (Py_ssize_t k = 0; k < nkw; k++) {
                PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
                Py_ssize_t j = 0;

                while (j < n && PyUnicode_CompareWithASCIIString(kw, names[j]) != 0)
                        j++;
                if (j == n) {
                        PyErr_Format(PyExc_TypeError,
                                     "%s() got an unexpected keyword argument '%U'", fn, kw);
                        return -1;
                }
                if (out[j] != NULL) {
                        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                                     fn, names[j]);
                        return -1;
                }
                out[j] = args[nargs + k];
        }
        for (int i = 0; i < nreq; i++) {
                if (out[i] == NULL) {
                        PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fn,
                                     names[i]);
                        return -1;
                }
        }
        return 0;
}

/* A str argument as UTF-8. An embedded NUL would silently cut the name the library sees, so it
 * is refused like any other invalid value. */
static int c_str(PyObject *o, const char *what, const char **out)
{
        Py_ssize_t n;
        const char *s;

        if (!PyUnicode_Check(o)) {
                PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what,
                             Py_TYPE(o)->tp_name);
                return -1;
        }
        s = PyUnicode_AsUTF8AndSize(o, &n);
        if (s == NULL)
                return -1;
        if (strlen(s) != (size_t)n) {
                raise_error(-EINVAL, what, "contains a NUL character");
                return -1;
        }
        *out = s;
        return 0;
}

/* An optional str: None (or absent) gives dflt. */
static int c_str_opt(PyObject *o, const char *what, const char *dflt, const char **out)
{
        if (o == NULL || o == Py_None) {
                *out = dflt;
                return 0;
        }
        return c_str(o, what, out);
}

static int c_u64(PyObject *o, const char *what, uint64_t *out)
{
        PyObject *i = PyNumber_Index(o);
        unsigned long long v;

        if (i == NULL) {
                PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                             Py_TYPE(o)->tp_name);
                return -1;
        }
        v = PyLong_AsUnsignedLongLong(i);
        Py_DECREF(i);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Format(PyExc_OverflowError, "%s must be in 0 .. 2**64-1", what);
                return -1;
        }
        *out = v;
        return 0;
}

static int c_i64(PyObject *o, const char *what, int64_t *out)
{
        PyObject *i = PyNumber_Index(o);
        long long v;

        if (i == NULL) {
                PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", what,
                             Py_TYPE(o)->tp_name);
                return -1;
        }
        v = PyLong_AsLongLong(i);
        Py_DECREF(i);
        if (v == -1 && PyErr_Occurred()) {
                PyErr_Format(PyExc_OverflowError, "%s must be in -2**63 .. 2**63-1", what);
                return -1;
        }
        *out = v;
        return 0;
}

/* The (group, symbol) dict key. Exact str only: a subclass could run Python code in its hash or
 * comparison, and the key is hashed under the tracker's mutex. */
static PyObject *exact_str(PyObject *o, const char *s)
{
        return PyUnicode_CheckExact(o) ? Py_NewRef(o) : PyUnicode_FromString(s);
}

static PyObject *make_key(PyObject *group, const char *g, PyObject *symbol, const char *s)
{
        PyObject *a = exact_str(group, g), *b = a != NULL ? exact_str(symbol, s) : NULL, *key;

        key = b != NULL ? PyTuple_Pack(2, a, b) : NULL;
        Py_XDECREF(a);
        Py_XDECREF(b);
        return key;
}

/* ---- the tracker ----------------------------------------------------------------------- */

typedef struct {
        PyObject ob_base;
        hshm_store *store;             /* NULL before __init__ and after close() */
        atomic_long busy;              /* calls using store now; close() waits for 0 */
        atomic_int closing;            /* set once by close(); enter() refuses from then on */
        unsigned long fork_generation; /* fork_generation when opened */
        int read_only;
        PyObject *name;
        pthread_mutex_t mu; /* guards the five fields below */
        PyObject *held;     /* {(group, symbol): token} of the locks this tracker took */
        PyObject *owned;    /* {token: (group, symbol)}, the same pairs reversed */
        PyObject **cache;   /* status dict by slot number (see status_for_slot), or NULL */
        uint32_t cache_len; /* slots cache has room for: the segment's capacity */
        uint32_t cached;    /* dicts in cache */
} Tracker;

static PyTypeObject TrackerType;

/* The sections under mu never run Python code and never release the GIL, so the only waiter
 * ever is a thread of a free-threaded interpreter; it waits with the GIL (if any) released. */
static void mu_lock(Tracker *t)
{
        if (pthread_mutex_trylock(&t->mu) != 0) {
                WITHOUT_GIL(pthread_mutex_lock(&t->mu));
        }
}

static void mu_unlock(Tracker *t)
{
        pthread_mutex_unlock(&t->mu);
}

/* 0 if t may be used, else -1 with ValueError: closed, or opened by the parent of a fork. */
static int check_usable(Tracker *t)
{
        if (t->fork_generation != fork_generation) {
                PyErr_SetString(PyExc_ValueError,
                                "this HedgeTracker was opened before fork(): open a new one in the "
                                "child process");
                return -1;
        }
        if (t->store == NULL || atomic_load(&t->closing)) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed HedgeTracker");
                return -1;
        }
        return 0;
}

/* The handle, counted as in use until leave(); NULL with ValueError when not usable. */
static hshm_store *enter(Tracker *t)
{
        hshm_store *s;

        if (check_usable(t) < 0)
                return NULL;
        /* Count ourselves in, then look at closing; close() sets closing, then looks at busy.
         * Both sequentially consistent, so at least one of the two sees the other. */
        atomic_fetch_add(&t->busy, 1);
        s = atomic_load(&t->closing) ? NULL : t->store;
        if (s == NULL)
                atomic_fetch_sub(&t->busy, 1);
        if (s == NULL)
                PyErr_SetString(PyExc_ValueError, "operation on a closed HedgeTracker");
        return s;
}

static void leave(Tracker *t)
{
        atomic_fetch_sub(&t->busy, 1);
}

/* Keep token for key (both built by the caller, so nothing allocates a GC object under mu). */
static int remember(Tracker *t, PyObject *key, PyObject *token)
{
        PyObject *old;
        int rc = 0;

        mu_lock(t);
        old = PyDict_GetItemWithError(t->held, key);
        if (old != NULL)
                rc = PyDict_DelItem(t->owned, old);
        if (rc == 0)
                rc = PyDict_SetItem(t->held, key, token);
        if (rc == 0 && PyDict_SetItem(t->owned, token, key) < 0) {
                PyDict_DelItem(t->held, key);
                rc = -1;
        }
        mu_unlock(t);
        return rc;
}

/* The token this tracker holds for key, or 0 (no token is 0: a lock's generation is >= 1). */
static uint64_t lookup(Tracker *t, PyObject *key)
{
        PyObject *v;
        uint64_t token = 0;

        mu_lock(t);
        v = PyDict_GetItemWithError(t->held, key);
        if (v != NULL)
                token = PyLong_AsUnsignedLongLong(v);
        mu_unlock(t);
        return token;
}

/* Drop key's entry; when token is not 0, only if it still holds that token (another thread of
 * this tracker may have taken a newer lock on the key meanwhile). */
static void forget_key(Tracker *t, PyObject *key, uint64_t token)
{
        PyObject *v;

        mu_lock(t);
        v = PyDict_GetItemWithError(t->held, key);
        if (v != NULL && (token == 0 || PyLong_AsUnsignedLongLong(v) == token)) {
                PyDict_DelItem(t->owned, v);
                PyDict_DelItem(t->held, key);
        }
        mu_unlock(t);
}

static void forget_token(Tracker *t, uint64_t token)
{
        PyObject *tok = PyLong_FromUnsignedLongLong(token), *key;

        if (tok == NULL) {
                PyErr_Clear();
                return;
        }
        mu_lock(t);
        key = PyDict_GetItemWithError(t->owned, tok);
        if (key != NULL) {
                Py_INCREF(key);
                PyDict_DelItem(t->owned, tok);
                PyDict_DelItem(t->held, key);
        }
        mu_unlock(t);
        Py_XDECREF(key);
        Py_DECREF(tok);
}

/* ---- results as dicts ------------------------------------------------------------------ */

/* Strings made once: state, health and settle_unknown outcome names, the keys of a status
 * dict. */
static PyObject *state_names[4], *health_names[3], *settled_names[3];

enum status_field {
        F_GROUP,
        F_SYMBOL,
        F_STATE,
        F_SLOT,
        F_GENERATION,
        F_TOKEN,
        F_TICKET,
        F_HEDGE_SYMBOL,
        F_OWNER_PID,
        F_LOCK_NS,
        F_LEASE_DEADLINE_NS,
        F_LEASE_EXPIRED,
        F_ACTIVATE_NS,
        F_CHANGED_NS,
        F_REASON,
        N_FIELDS
};

static const char *const status_names[N_FIELDS] = {
    "group",       "symbol",       "state",     "slot",    "generation",        "token",
    "ticket",      "hedge_symbol", "owner_pid", "lock_ns", "lease_deadline_ns", "lease_expired",
    "activate_ns", "changed_ns",   "reason",
};

static PyObject *status_keys[N_FIELDS];

/* A dict holding every status key (values None), copied for each status: a copy of a dict of
 * the right size costs a fraction of building one key by key with its resizes. */
static PyObject *status_template;

static PyObject *text(const char *s)
{
        size_t n = strlen(s);

        /* "" is a shared object: no allocation for the usual empty reason. */
        return n == 0 ? PyUnicode_FromStringAndSize("", 0)
                      : PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
}

static int64_t realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One slot's snapshot. group and symbol may be the caller's own str objects, or NULL. */
static PyObject *status_dict(const struct hshm_status *st, PyObject *group, PyObject *symbol)
{
        PyObject *v[N_FIELDS], *d = PyDict_Copy(status_template);
        int rc = d != NULL ? 0 : -1;

        v[F_GROUP] = group != NULL ? Py_NewRef(group) : text(st->group);
        v[F_SYMBOL] = symbol != NULL ? Py_NewRef(symbol) : text(st->symbol);
        v[F_STATE] = Py_NewRef(state_names[st->state & 3]);
        v[F_SLOT] = PyLong_FromUnsignedLong(st->slot);
        v[F_GENERATION] = PyLong_FromUnsignedLongLong(st->generation);
        v[F_TOKEN] = PyLong_FromUnsignedLongLong(st->token);
        v[F_TICKET] = PyLong_FromUnsignedLongLong(st->ticket);
        v[F_HEDGE_SYMBOL] = text(st->hedge_symbol);
        v[F_OWNER_PID] = PyLong_FromLong(st->owner.pid);
        v[F_LOCK_NS] = PyLong_FromLongLong(st->lock_ns);
        v[F_LEASE_DEADLINE_NS] = PyLong_FromLongLong(st->lease_deadline_ns);
        v[F_LEASE_EXPIRED] =
            PyBool_FromLong(st->state == HSHM_HEDGING && hshm_lease_expired(st, realtime_ns()));
        v[F_ACTIVATE_NS] = PyLong_FromLongLong(st->activate_ns);
        v[F_CHANGED_NS] = PyLong_FromLongLong(st->changed_ns);
        v[F_REASON] = text(st->reason);
        for (int i = 0; i < N_FIELDS; i++) {
                if (rc == 0 && (v[i] == NULL || PyDict_SetItem(d, status_keys[i], v[i]) < 0))
                        rc = -1;
                Py_XDECREF(v[i]);
        }
        if (rc < 0)
                Py_CLEAR(d);
        return d;
}

/*
 * The status dict of snapshot st, through the tracker's cache. Every field of a snapshot
 * belongs to its generation, and the generation moves at every transition, so a dict built
 * for one generation of a slot stays right for as long as the slot stays there; only
 * lease_expired follows the clock, and it is set again on the copy. A hit costs one dict copy
 * instead of building fifteen entries: that is what makes a status read cheaper than the
 * seed's dict(pos). The cache is an array by slot number, so a hit hashes nothing. Callers
 * get copies; cached dicts are never handed out. At most STATUS_CACHE_MAX dicts are kept;
 * the cache is emptied when full.
 */
#define STATUS_CACHE_MAX 1024

/* Empty the cache (under mu, or when nobody else can see t). */
static void drop_cache(Tracker *t)
{
        for (uint32_t i = 0; t->cache != NULL && i < t->cache_len; i++)
                Py_CLEAR(t->cache[i]);
        PyMem_Free(t->cache);
        t->cache = NULL;
        t->cached = 0;
}

static PyObject *status_for_slot(Tracker *t, const struct hshm_status *st, PyObject *group,
                                 PyObject *symbol)
{
        PyObject *cached = NULL, *gen, *res;
        int rc = 0;

        mu_lock(t);
        if (st->slot < t->cache_len && t->cache != NULL)
                cached = Py_XNewRef(t->cache[st->slot]);
        mu_unlock(t);
        if (cached != NULL) {
                gen = PyDict_GetItemWithError(cached, status_keys[F_GENERATION]);
                if (gen == NULL || PyLong_AsUnsignedLongLong(gen) != st->generation)
                        Py_CLEAR(cached);
        }
        if (cached == NULL) {
                cached = status_dict(st, group, symbol);
                if (cached == NULL)
                        return NULL;
                mu_lock(t);
                if (t->cache == NULL && t->cache_len > 0)
                        t->cache = PyMem_Calloc(t->cache_len, sizeof(*t->cache));
                if (t->cached >= STATUS_CACHE_MAX)
                        drop_cache(t);
                if (t->cache != NULL && st->slot < t->cache_len) {
                        if (t->cache[st->slot] == NULL)
                                t->cached++;
                        Py_XSETREF(t->cache[st->slot], Py_NewRef(cached));
                }
                mu_unlock(t);
        }
        res = PyDict_Copy(cached);
        Py_DECREF(cached);
        if (res != NULL && st->state == HSHM_HEDGING)
                rc = PyDict_SetItem(res, status_keys[F_LEASE_EXPIRED],
                                    hshm_lease_expired(st, realtime_ns()) ? Py_True : Py_False);
        if (rc < 0)
                Py_CLEAR(res);
        return res;
}

/* ---- HedgeTracker: lifecycle ----------------------------------------------------------- */

static PyObject *tracker_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
        Tracker *t = (Tracker *)type->tp_alloc(type, 0);

        (void)args;
        (void)kw;
        if (t == NULL)
                return NULL;
        pthread_mutex_init(&t->mu, NULL);
        t->held = PyDict_New();
        t->owned = PyDict_New();
        t->fork_generation = fork_generation;
        if (t->held == NULL || t->owned == NULL) {
                Py_DECREF(t);
                return NULL;
        }
        return (PyObject *)t;
}

/* Create the segment when asked and missing, attach, set the lease (0: keep the default). */
static int open_store(const char *name, int create, uint32_t capacity, int read_only,
                      uint32_t lease_ms, hshm_store **out, struct hshm_info *info)
{
        int err = 0;

        if (create) {
                struct hshm_create_opts opts = {.capacity = capacity};

                err = hshm_create(name, &opts);
                if (err == -EEXIST)
                        err = 0;
        }
        if (err == 0)
                err = hshm_open(name, read_only ? HSHM_OPEN_RDONLY : 0, out);
        if (err == 0 && lease_ms != 0)
                err = hshm_set_lease_ms(*out, lease_ms);
        if (err == 0)
                err = hshm_info(*out, info);
        if (err != 0) {
                hshm_close(*out);
                *out = NULL;
        }
        return err;
}

static int tracker_init(Tracker *t, PyObject *args, PyObject *kw)
{
        static const char *const kwlist[] = {"name",     "lease_ms",  "create",
                                             "capacity", "read_only", NULL};
        PyObject *name_obj = Py_None, *lease_obj = Py_None;
        int create = 0, read_only = 0, err = 0;
        unsigned int capacity = 0;
        const char *name = NULL;
        uint64_t lease_ms = 0;
        hshm_store *store = NULL;
        struct hshm_info info;

        if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOpIp:HedgeTracker", KWLIST(kwlist), &name_obj,
                                         &lease_obj, &create, &capacity, &read_only))
                return -1;
        if (t->store != NULL || atomic_load(&t->closing)) {
                PyErr_SetString(PyExc_RuntimeError, "HedgeTracker.__init__ called twice");
                return -1;
        }
        if (c_str_opt(name_obj, "name", NULL, &name) < 0)
                return -1;
        if (lease_obj != Py_None && c_u64(lease_obj, "lease_ms", &lease_ms) < 0)
                return -1;
        if (lease_obj != Py_None && (lease_ms == 0 || lease_ms > UINT32_MAX)) {
                raise_error(-EINVAL, "HedgeTracker", "lease_ms must be 1 .. 86400000");
                return -1;
        }
        if (create && read_only) {
                raise_error(-EINVAL, "HedgeTracker", "create and read_only exclude each other");
                return -1;
        }
        name = hshm_resolve_name(name);
        WITHOUT_GIL(
            err = open_store(name, create, capacity, read_only, (uint32_t)lease_ms, &store, &info));
        if (err != 0) {
                raise_error(err, create ? "HedgeTracker(create=True)" : "HedgeTracker", NULL);
                return -1;
        }
        t->name = PyUnicode_FromString(name);
        if (t->name == NULL) {
                hshm_close(store);
                return -1;
        }
        t->store = store;
        t->read_only = read_only;
        t->cache_len = info.capacity;
        t->fork_generation = fork_generation;
        return 0;
}

static PyObject *tracker_close(Tracker *t, PyObject *unused)
{
        hshm_store *s;

        (void)unused;
        if (t->fork_generation != fork_generation) {
                t->store = NULL; /* the parent's registration is not ours to remove */
                Py_RETURN_NONE;
        }
        atomic_store(&t->closing, 1);
        while (atomic_load(&t->busy) > 0) {
                const struct timespec nap = {0, 1000 * 1000};

                WITHOUT_GIL(nanosleep(&nap, NULL));
        }
        mu_lock(t);
        s = t->store; /* under mu: a second close() finds NULL */
        t->store = NULL;
        PyDict_Clear(t->held);
        PyDict_Clear(t->owned);
        drop_cache(t);
        mu_unlock(t);
        hshm_close(s);
        Py_RETURN_NONE;
}

static void tracker_dealloc(Tracker *t)
{
        /* No call can be in flight: each holds a reference to t. */
        if (t->store != NULL && t->fork_generation == fork_generation)
                hshm_close(t->store);
        pthread_mutex_destroy(&t->mu);
        Py_XDECREF(t->held);
        Py_XDECREF(t->owned);
        drop_cache(t);
        Py_XDECREF(t->name);
        Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *tracker_enter(Tracker *t, PyObject *unused)
{
        (void)unused;
        if (check_usable(t) < 0)
                return NULL;
        return Py_NewRef(t);
}

static PyObject *tracker_exit(Tracker *t, PyObject *args)
{
        (void)args;
        return tracker_close(t, NULL);
}

static PyObject *tracker_repr(Tracker *t)
{
        if (t->store == NULL)
                return PyUnicode_FromFormat("<HedgeTracker %R closed>",
                                            t->name != NULL ? t->name : Py_None);
        return PyUnicode_FromFormat("<HedgeTracker %R%s held=%zd>", t->name,
                                    t->read_only ? " read-only" : "", PyDict_GET_SIZE(t->held));
}

/* ---- HedgeTracker: locks --------------------------------------------------------------- */

static const char *const key_names[] = {"group", "symbol", NULL};

/* Parse (group, symbol, ...) and build the dict key. */
static PyObject *key_args(PyObject *a[], const char **g, const char **s)
{
        if (c_str(a[0], "group", g) < 0 || c_str(a[1], "symbol", s) < 0)
                return NULL;
        return make_key(a[0], *g, a[1], *s);
}

/* lock_position and lock: AVAILABLE -> HEDGING, keeping the token. */
static PyObject *do_lock(Tracker *t, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                         const char *fn, int explicit_token)
{
        PyObject *a[2], *key, *tok = NULL, *res = NULL;
        const char *g, *s;
        uint64_t token = 0;
        hshm_store *st;
        int err;

        if (get_args(fn, args, nargs, kwnames, key_names, 2, a) < 0 ||
            (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        if ((st = enter(t)) == NULL) {
                Py_DECREF(key);
                return NULL;
        }
        WITHOUT_GIL(err = hshm_lock(st, g, s, &token));
        if (err == 0 && ((tok = PyLong_FromUnsignedLongLong(token)) == NULL ||
                         remember(t, key, tok) < 0)) {
                /* Nobody would ever know this token: give the lock back rather than leave the
                 * position HEDGING until its lease runs out. The Python error is set. */
                WITHOUT_GIL(hshm_reset(st, token));
                err = 1;
        }
        /* Out of flight before raising: an exception is an object, and allocating one may
         * run a finalizer that closes this tracker (see scan_slots). */
        leave(t);
        if (err == -EBUSY && !explicit_token)
                res = Py_NewRef(Py_False);
        else if (err < 0)
                raise_error(err, fn, NULL);
        else if (err == 0)
                res = explicit_token ? Py_NewRef(tok) : Py_NewRef(Py_True);
        Py_XDECREF(tok);
        Py_DECREF(key);
        return res;
}

static PyObject *tracker_lock_position(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
        return do_lock(t, args, nargs, kwnames, "lock_position", 0);
}

static PyObject *tracker_lock(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
        return do_lock(t, args, nargs, kwnames, "lock", 1);
}

static int call_activate(Tracker *t, uint64_t token, uint64_t ticket, const char *hedge)
{
        hshm_store *st = enter(t);
        int err;

        if (st == NULL)
                return INT_MIN;
        WITHOUT_GIL(err = hshm_activate(st, token, ticket, hedge));
        leave(t);
        return err;
}

/* hshm_reset, or with only_hedging hshm_release (which refuses an ACTIVE slot). */
static int call_reset(Tracker *t, uint64_t token, int only_hedging)
{
        hshm_store *st = enter(t);
        int err;

        if (st == NULL)
                return INT_MIN;
        if (only_hedging)
                WITHOUT_GIL(err = hshm_release(st, token));
        else
                WITHOUT_GIL(err = hshm_reset(st, token));
        leave(t);
        return err;
}

static PyObject *tracker_activate_position(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                           PyObject *kwnames)
{
        static const char *const names[] = {"group", "symbol", "order_id", "hedge_symbol", NULL};
        PyObject *a[4], *key, *res = NULL;
        const char *g, *s, *hedge;
        uint64_t ticket, token;
        int err;

        if (check_usable(t) < 0 ||
            get_args("activate_position", args, nargs, kwnames, names, 3, a) < 0 ||
            c_u64(a[2], "order_id", &ticket) < 0 ||
            c_str_opt(a[3], "hedge_symbol", NULL, &hedge) < 0 ||
            (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        token = lookup(t, key);
        if (token == 0) {
                res = Py_NewRef(Py_False);
        } else {
                err = call_activate(t, token, ticket, hedge);
                if (err == 0)
                        res = Py_NewRef(Py_True);
                else if (err == HSHM_ESTALE || err == HSHM_ESTATE)
                        res = Py_NewRef(Py_False);
                else if (err != INT_MIN)
                        raise_error(err, "activate_position", NULL);
                if (err == HSHM_ESTALE)
                        forget_key(t, key, token);
        }
        Py_DECREF(key);
        return res;
}

static PyObject *tracker_activate(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames)
{
        static const char *const names[] = {"token", "order_id", "hedge_symbol", NULL};
        PyObject *a[3];
        const char *hedge;
        uint64_t token, ticket;
        int err;

        if (get_args("activate", args, nargs, kwnames, names, 2, a) < 0 ||
            c_u64(a[0], "token", &token) < 0 || c_u64(a[1], "order_id", &ticket) < 0 ||
            c_str_opt(a[2], "hedge_symbol", NULL, &hedge) < 0)
                return NULL;
        err = call_activate(t, token, ticket, hedge);
        if (err == INT_MIN)
                return NULL;
        if (err == HSHM_ESTALE)
                forget_token(t, token);
        if (err != 0)
                return raise_error(err, "activate", NULL);
        Py_RETURN_NONE;
}

static PyObject *tracker_reset_position(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *kwnames)
{
        PyObject *a[2], *key, *res = NULL;
        const char *g, *s;
        uint64_t token;
        int err;

        if (check_usable(t) < 0 ||
            get_args("reset_position", args, nargs, kwnames, key_names, 2, a) < 0 ||
            (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        token = lookup(t, key);
        if (token == 0) {
                res = Py_NewRef(Py_False);
        } else {
                err = call_reset(t, token, 0);
                if (err == 0 || err == HSHM_ESTALE)
                        forget_key(t, key, token);
                if (err == 0)
                        res = Py_NewRef(Py_True);
                else if (err == HSHM_ESTALE || err == HSHM_ESTATE)
                        res = Py_NewRef(Py_False);
                else if (err != INT_MIN)
                        raise_error(err, "reset_position", NULL);
        }
        Py_DECREF(key);
        return res;
}

static PyObject *reset_token(Tracker *t, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                             const char *method, int only_hedging)
{
        static const char *const names[] = {"token", NULL};
        PyObject *a[1];
        uint64_t token;
        int err;

        if (get_args(method, args, nargs, kwnames, names, 1, a) < 0 ||
            c_u64(a[0], "token", &token) < 0)
                return NULL;
        err = call_reset(t, token, only_hedging);
        if (err == INT_MIN)
                return NULL;
        if (err == 0 || err == HSHM_ESTALE)
                forget_token(t, token);
        if (err != 0)
                return raise_error(err, method, NULL);
        Py_RETURN_NONE;
}

static PyObject *tracker_reset(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
        return reset_token(t, args, nargs, kwnames, "reset", 0);
}

static PyObject *tracker_release(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
        return reset_token(t, args, nargs, kwnames, "release", 1);
}

/*
 * An order whose outcome is unknown: the library decides it from the syncer's pass once it
 * can. Not decidable yet (-EAGAIN) is the usual answer while the bot waits, so it is None,
 * not an exception; the same code from a slot left mid-write by a dead process means the
 * same to the caller: ask again later.
 */
static PyObject *tracker_settle_unknown(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *kwnames)
{
        static const char *const names[] = {"token", "sent_ns", "grace_ms", NULL};
        PyObject *a[3];
        uint64_t token, grace_ms = 1000;
        int64_t sent_ns;
        hshm_store *st;
        int rc;

        if (get_args("settle_unknown", args, nargs, kwnames, names, 2, a) < 0 ||
            c_u64(a[0], "token", &token) < 0 || c_i64(a[1], "sent_ns", &sent_ns) < 0 ||
            (a[2] != NULL && c_u64(a[2], "grace_ms", &grace_ms) < 0))
                return NULL;
        if (grace_ms > UINT32_MAX)
                return raise_error(-EINVAL, "settle_unknown", "grace_ms must be 0 .. 4294967295");
        if ((st = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(rc = hshm_settle_unknown(st, token, sent_ns, (uint32_t)grace_ms));
        leave(t);
        /* Released or judged since: the lock is no longer this tracker's to use. Adopted
         * keeps it, ACTIVE under the token, for reset_position when the bot closes the hedge. */
        if (rc == HSHM_SETTLED_RELEASED || rc == HSHM_SETTLED_MOVED_ON)
                forget_token(t, token);
        if (rc >= HSHM_SETTLED_RELEASED && rc <= HSHM_SETTLED_MOVED_ON)
                return Py_NewRef(settled_names[rc]);
        if (rc == -EAGAIN)
                Py_RETURN_NONE;
        return raise_error(rc, "settle_unknown", NULL);
}

static PyObject *tracker_mark_error(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
        static const char *const names[] = {"group", "symbol", "reason", NULL};
        PyObject *a[3], *key;
        const char *g, *s, *reason;
        hshm_store *st;
        int err;

        if (get_args("mark_error", args, nargs, kwnames, names, 2, a) < 0 ||
            c_str_opt(a[2], "reason", "", &reason) < 0 || (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        if ((st = enter(t)) == NULL) {
                Py_DECREF(key);
                return NULL;
        }
        WITHOUT_GIL(err = hshm_mark_error(st, g, s, reason));
        leave(t);
        if (err == 0)
                forget_key(t, key, 0); /* the lock, if we held it, ended here */
        Py_DECREF(key);
        if (err == 0)
                Py_RETURN_TRUE;
        if (err == HSHM_ESTATE)
                Py_RETURN_FALSE;
        return raise_error(err, "mark_error", NULL);
}

static PyObject *tracker_clear(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
        PyObject *a[2];
        const char *g, *s;
        hshm_store *st;
        int err;

        if (get_args("clear", args, nargs, kwnames, key_names, 2, a) < 0 ||
            c_str(a[0], "group", &g) < 0 || c_str(a[1], "symbol", &s) < 0 ||
            (st = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_clear(st, g, s));
        leave(t);
        if (err == 0)
                Py_RETURN_TRUE;
        if (err == HSHM_ESTATE || err == HSHM_ENOKEY)
                Py_RETURN_FALSE;
        return raise_error(err, "clear", NULL);
}

/* ---- HedgeTracker: reading ------------------------------------------------------------- */

static PyObject *tracker_is_position_available(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                               PyObject *kwnames)
{
        PyObject *a[2];
        const char *g, *s;
        hshm_store *st;
        int rc;

        if (get_args("is_position_available", args, nargs, kwnames, key_names, 2, a) < 0 ||
            c_str(a[0], "group", &g) < 0 || c_str(a[1], "symbol", &s) < 0 ||
            (st = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(rc = hshm_is_available(st, g, s));
        leave(t);
        if (rc < 0)
                return raise_error(rc, "is_position_available", NULL);
        return PyBool_FromLong(rc);
}

/* get_position_status (None for a never-used key) and status (NoKeyError for it). */
static PyObject *do_status(Tracker *t, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                           const char *fn, int none_if_unknown)
{
        struct hshm_status st;
        PyObject *a[2];
        const char *g, *s;
        hshm_store *store;
        int err;

        if (get_args(fn, args, nargs, kwnames, key_names, 2, a) < 0 ||
            c_str(a[0], "group", &g) < 0 || c_str(a[1], "symbol", &s) < 0 ||
            (store = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_status(store, g, s, &st));
        leave(t);
        if (err == 0)
                return status_for_slot(t, &st, PyUnicode_CheckExact(a[0]) ? a[0] : NULL,
                                       PyUnicode_CheckExact(a[1]) ? a[1] : NULL);
        if (err == HSHM_ENOKEY && none_if_unknown)
                Py_RETURN_NONE;
        return raise_error(err, fn, NULL);
}

static PyObject *tracker_get_position_status(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                             PyObject *kwnames)
{
        return do_status(t, args, nargs, kwnames, "get_position_status", 1);
}

static PyObject *tracker_status(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
        return do_status(t, args, nargs, kwnames, "status", 0);
}

static PyObject *tracker_status_by_token(Tracker *t, PyObject *arg)
{
        struct hshm_status st;
        hshm_store *store;
        uint64_t token;
        int err;

        if (c_u64(arg, "token", &token) < 0 || (store = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_status_by_token(store, token, &st));
        leave(t);
        if (err != 0)
                return raise_error(err, "status_by_token", NULL);
        return status_for_slot(t, &st, NULL, NULL);
}

#define SCAN_CHUNK 256

/* Snapshots of slots base .. base+n-1 into buf (run without the GIL); returns how many. */
static uint32_t fill_chunk(hshm_store *store, uint32_t base, uint32_t n, struct hshm_status *buf,
                           int *err)
{
        uint32_t got = 0;

        for (uint32_t i = 0; i < n && *err == 0; i++) {
                *err = hshm_slot_status(store, base + i, &buf[got]);
                if (*err == 0)
                        got++;
                else if (*err == HSHM_ENOKEY)
                        *err = 0;
        }
        return got;
}

/*
 * Visit every keyed slot, SCAN_CHUNK snapshots at a time taken with the GIL released. visit
 * returns -1 to stop with the Python error set. Slots allocated but not yet keyed are skipped.
 */
static int scan_slots(Tracker *t, const char *fn,
                      int (*visit)(Tracker *t, const struct hshm_status *st, void *arg), void *arg)
{
        struct hshm_status *buf = PyMem_Malloc(SCAN_CHUNK * sizeof(*buf));
        struct hshm_info info;
        hshm_store *store;
        int err = 0, rc = 0;

        if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
        }
        if ((store = enter(t)) == NULL) {
                PyMem_Free(buf);
                return -1;
        }
        err = hshm_info(store, &info);
        leave(t);
        /* In flight only while the chunk is read: visit runs Python code, where a finalizer
         * may close this tracker on this very thread, and close() waits for calls in flight. */
        for (uint32_t base = 0; err == 0 && rc == 0 && base < info.used; base += SCAN_CHUNK) {
                uint32_t n = info.used - base < SCAN_CHUNK ? info.used - base : SCAN_CHUNK, got = 0;

                if ((store = enter(t)) == NULL) {
                        rc = -1;
                        break;
                }
                WITHOUT_GIL(got = fill_chunk(store, base, n, buf, &err));
                leave(t);
                for (uint32_t i = 0; i < got && rc == 0; i++)
                        rc = visit(t, &buf[i], arg);
        }
        PyMem_Free(buf);
        if (err != 0 && rc == 0) {
                raise_error(err, fn, NULL);
                rc = -1;
        }
        return rc;
}

struct list_filter {
        PyObject *list;
        int state; /* -1: all */
};

static int visit_list(Tracker *t, const struct hshm_status *st, void *arg)
{
        struct list_filter *f = arg;

        (void)t;
        PyObject *d;
        int rc;

        if (f->state >= 0 && (int)st->state != f->state)
                return 0;
        /* Not through the cache: a listing would only churn it. */
        d = status_dict(st, NULL, NULL);
        if (d == NULL)
                return -1;
        rc = PyList_Append(f->list, d);
        Py_DECREF(d);
        return rc;
}

static int state_from_name(PyObject *o, int *out)
{
        for (int i = 0; i < 4; i++) {
                if (PyUnicode_Check(o) && PyUnicode_Compare(o, state_names[i]) == 0) {
                        *out = i;
                        return 0;
                }
        }
        if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError,
                             "state must be 'AVAILABLE', 'HEDGING', 'ACTIVE' or 'ERROR', not %R",
                             o);
        return -1;
}

static PyObject *tracker_positions(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
        static const char *const names[] = {"state", NULL};
        struct list_filter f = {NULL, -1};
        PyObject *a[1];

        if (get_args("positions", args, nargs, kwnames, names, 0, a) < 0 ||
            (a[0] != NULL && a[0] != Py_None && state_from_name(a[0], &f.state) < 0))
                return NULL;
        f.list = PyList_New(0);
        if (f.list == NULL)
                return NULL;
        if (scan_slots(t, "positions", visit_list, &f) < 0)
                Py_CLEAR(f.list);
        return f.list;
}

static int visit_count(Tracker *t, const struct hshm_status *st, void *arg)
{
        (void)t;
        ((Py_ssize_t *)arg)[st->state & 3]++;
        return 0;
}

static PyObject *info_dict(const struct hshm_info *in)
{
        return Py_BuildValue(
            "{sIsIsIsIsIsIsIsKsKsLsLsO}", "format_version", in->format_version, "capacity",
            in->capacity, "used", in->used, "index_buckets", in->index_buckets, "slot_size",
            in->slot_size, "procs_max", in->procs_max, "procs_registered", in->procs_registered,
            "size_bytes", (unsigned long long)in->size_bytes, "instance_id",
            (unsigned long long)in->instance_id, "created_ns", (long long)in->created_ns,
            "clock_resolution_ns", (long long)in->clock_resolution_ns, "read_only",
            in->read_only ? Py_True : Py_False);
}

static PyObject *tracker_info(Tracker *t, PyObject *unused)
{
        struct hshm_info info;
        hshm_store *store = enter(t);
        int err;

        (void)unused;
        if (store == NULL)
                return NULL;
        err = hshm_info(store, &info);
        leave(t);
        if (err != 0)
                return raise_error(err, "info", NULL);
        return info_dict(&info);
}

static PyObject *tracker_get_statistics(Tracker *t, PyObject *unused)
{
        Py_ssize_t counts[4] = {0, 0, 0, 0}, held;
        struct hshm_stats sc;
        struct hshm_info info;
        hshm_store *store = enter(t);
        int err;

        (void)unused;
        if (store == NULL)
                return NULL;
        err = hshm_stats(store, &sc);
        if (err == 0)
                err = hshm_info(store, &info);
        leave(t);
        if (err != 0)
                return raise_error(err, "get_statistics", NULL);
        if (scan_slots(t, "get_statistics", visit_count, counts) < 0)
                return NULL;
        mu_lock(t);
        held = PyDict_GET_SIZE(t->held);
        mu_unlock(t);
        return Py_BuildValue(
            "{snsnsnsnsnsIsIsIsnsKsKsKsKsKsKsKsK}", "total_positions",
            counts[0] + counts[1] + counts[2] + counts[3], "available", counts[0], "hedging",
            counts[1], "active", counts[2], "error", counts[3], "capacity", info.capacity,
            "used_slots", info.used, "processes", info.procs_registered, "held", held, "locks_won",
            (unsigned long long)sc.locks_won, "lock_conflicts",
            (unsigned long long)sc.lock_conflicts, "activations",
            (unsigned long long)sc.activations, "resets", (unsigned long long)sc.resets, "errors",
            (unsigned long long)sc.errors, "clears", (unsigned long long)sc.clears,
            "stale_refusals", (unsigned long long)sc.stale_refusals, "keys_inserted",
            (unsigned long long)sc.keys_inserted);
}

static PyObject *tracker_token(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames)
{
        PyObject *a[2], *key;
        const char *g, *s;
        uint64_t token;

        if (check_usable(t) < 0 || get_args("token", args, nargs, kwnames, key_names, 2, a) < 0 ||
            (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        token = lookup(t, key);
        Py_DECREF(key);
        if (token == 0)
                Py_RETURN_NONE;
        return PyLong_FromUnsignedLongLong(token);
}

static PyObject *tracker_held(Tracker *t, PyObject *unused)
{
        PyObject *copy;

        (void)unused;
        mu_lock(t);
        copy = PyDict_Copy(t->held);
        mu_unlock(t);
        return copy;
}

/* ---- HedgeTracker: order tags and sync health ------------------------------------------ */

/* The tag of token into buf: 0, a library error, or INT_MIN with the Python error set. */
static int format_tag(Tracker *t, uint64_t token, char buf[HSHM_TAG_LEN + 1])
{
        hshm_store *store = enter(t);
        int err;

        if (store == NULL)
                return INT_MIN;
        WITHOUT_GIL(err = hshm_tag_format(store, token, buf, HSHM_TAG_LEN + 1));
        leave(t);
        return err;
}

static PyObject *tracker_order_tag(Tracker *t, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
        char buf[HSHM_TAG_LEN + 1];
        PyObject *a[2], *key;
        const char *g, *s;
        uint64_t token;
        int err;

        if (check_usable(t) < 0 ||
            get_args("order_tag", args, nargs, kwnames, key_names, 2, a) < 0 ||
            (key = key_args(a, &g, &s)) == NULL)
                return NULL;
        token = lookup(t, key);
        err = token != 0 ? format_tag(t, token, buf) : HSHM_ESTALE;
        if (token != 0 && err == HSHM_ESTALE)
                forget_key(t, key, token);
        Py_DECREF(key);
        if (err == INT_MIN)
                return NULL;
        if (token == 0)
                return raise_error(err, "order_tag",
                                   "this tracker holds no lock on the position: lock it first");
        if (err != 0)
                return raise_error(err, "order_tag", NULL);
        return PyUnicode_FromStringAndSize(buf, HSHM_TAG_LEN);
}

static PyObject *tracker_tag(Tracker *t, PyObject *arg)
{
        char buf[HSHM_TAG_LEN + 1];
        uint64_t token;
        int err;

        if (c_u64(arg, "token", &token) < 0)
                return NULL;
        err = format_tag(t, token, buf);
        if (err == INT_MIN)
                return NULL;
        if (err != 0)
                return raise_error(err, "tag", NULL);
        return PyUnicode_FromStringAndSize(buf, HSHM_TAG_LEN);
}

static PyObject *tag_dict(const struct hshm_tag *tag)
{
        return Py_BuildValue("{sIsIsKsI}", "instance", tag->instance, "slot", tag->slot,
                             "generation", (unsigned long long)tag->generation, "key_print",
                             tag->key_print);
}

static PyObject *tracker_resolve_tag(Tracker *t, PyObject *arg)
{
        struct hshm_tag tag;
        struct hshm_tag_match m;
        hshm_store *store;
        const char *s;
        int err;

        if (c_str(arg, "text", &s) < 0)
                return NULL;
        err = hshm_tag_parse(s, &tag);
        if (err != 0)
                return raise_error(err, "resolve_tag", NULL);
        if ((store = enter(t)) == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_tag_resolve(store, &tag, &m));
        leave(t);
        if (err != 0)
                return raise_error(err, "resolve_tag", NULL);
        return Py_BuildValue(
            "{sIsOsN}", "slot", m.slot, "same_instance", m.same_instance ? Py_True : Py_False,
            "token", m.same_instance ? PyLong_FromUnsignedLongLong(m.token) : Py_NewRef(Py_None));
}

/* The syncer's counters by name, for both directions (read and publish). */
static const struct {
        const char *name;
        size_t offset;
} sync_counter_fields[] = {
#define FIELD(f) {#f, offsetof(struct hshm_sync_counters, f)}
    FIELD(cycles),          FIELD(snapshots_ok),     FIELD(snapshots_rejected),
    FIELD(resets_closed),   FIELD(adoptions),        FIELD(duplicates),
    FIELD(tag_warnings),    FIELD(errors_marked),    FIELD(orphans_released),
    FIELD(orphans_adopted), FIELD(orphans_waiting),  FIELD(leases_expired),
    FIELD(repairs),
#undef FIELD
};

#define N_SYNC_COUNTERS (sizeof(sync_counter_fields) / sizeof(sync_counter_fields[0]))

static uint64_t *sync_counter(struct hshm_sync_counters *c, size_t i)
{
        return (uint64_t *)(void *)((char *)c + sync_counter_fields[i].offset);
}

static PyObject *counters_dict(struct hshm_sync_counters *c)
{
        PyObject *d = PyDict_New();

        for (size_t i = 0; d != NULL && i < N_SYNC_COUNTERS; i++) {
                PyObject *v = PyLong_FromUnsignedLongLong(*sync_counter(c, i));

                if (v == NULL || PyDict_SetItemString(d, sync_counter_fields[i].name, v) < 0)
                        Py_CLEAR(d);
                Py_XDECREF(v);
        }
        return d;
}

static PyObject *tracker_sync_with_mt5(Tracker *t, PyObject *unused)
{
        struct hshm_sync sy;
        hshm_store *store = enter(t);
        int err;

        (void)unused;
        if (store == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_sync_read(store, &sy));
        leave(t);
        if (err != 0)
                return raise_error(err, "sync_with_mt5", NULL);
        return Py_BuildValue("{sOsOsisIsIsLsLsKsLsOsLsNsN}", "health",
                             health_names[sy.health <= HSHM_SYNC_DEGRADED ? sy.health : 0], "ok",
                             sy.health == HSHM_SYNC_OK ? Py_True : Py_False, "pid", (int)sy.pid,
                             "interval_ms", sy.interval_ms, "grace_ms", sy.grace_ms, "started_ns",
                             (long long)sy.started_ns, "heartbeat_ns", (long long)sy.heartbeat_ns,
                             "snapshot_seq", (unsigned long long)sy.snapshot_seq,
                             "snapshot_time_ms", (long long)sy.snapshot_time_ms, "degraded",
                             sy.degraded ? Py_True : Py_False, "degraded_since_ns",
                             (long long)sy.degraded_since_ns, "degraded_reason",
                             text(sy.degraded_reason), "counters", counters_dict(&sy.counters));
}

static PyObject *tracker_sync_claim(Tracker *t, PyObject *unused)
{
        hshm_store *store = enter(t);
        int err;

        (void)unused;
        if (store == NULL)
                return NULL;
        WITHOUT_GIL(err = hshm_sync_claim(store));
        leave(t);
        if (err != 0)
                return raise_error(err, "sync_claim", NULL);
        Py_RETURN_NONE;
}

static int counter_field(PyObject *counters, const char *name, uint64_t *out)
{
        PyObject *v = PyMapping_GetItemString(counters, name);
        int rc;

        if (v == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_KeyError))
                        return -1;
                PyErr_Clear();
                return 0;
        }
        rc = c_u64(v, name, out);
        Py_DECREF(v);
        return rc;
}

static PyObject *tracker_sync_publish(Tracker *t, PyObject *args, PyObject *kw)
{
        static const char *const kwlist[] = {"interval_ms",      "grace_ms", "snapshot_seq",
                                             "snapshot_time_ms", "degraded", "degraded_since_ns",
                                             "degraded_reason",  "counters", "started_ns",
                                             "heartbeat_ns",     "pid",      NULL};
        struct hshm_sync sy = {0};
        PyObject *counters = NULL;
        const char *reason = "";
        long long started = -1, heartbeat = -1, snap_ms = 0, since = 0;
        unsigned long long seq = 0;
        int pid = (int)getpid();
        hshm_store *store;
        int err;

        sy.interval_ms = 1000;
        if (!PyArg_ParseTupleAndKeywords(args, kw, "|$IIKLpLsOLLi:sync_publish", KWLIST(kwlist),
                                         &sy.interval_ms, &sy.grace_ms, &seq, &snap_ms,
                                         &sy.degraded, &since, &reason, &counters, &started,
                                         &heartbeat, &pid))
                return NULL;
        for (size_t i = 0; counters != NULL && counters != Py_None && i < N_SYNC_COUNTERS; i++)
                if (counter_field(counters, sync_counter_fields[i].name,
                                  sync_counter(&sy.counters, i)) < 0)
                        return NULL;
        if (strlen(reason) > HSHM_SYNC_REASON_MAX)
                return raise_error(-EINVAL, "sync_publish", "degraded_reason is too long");
        sy.snapshot_seq = seq;
        sy.snapshot_time_ms = snap_ms;
        sy.degraded_since_ns = since;
        sy.pid = pid;
        sy.heartbeat_ns = heartbeat >= 0 ? heartbeat : realtime_ns();
        sy.started_ns = started >= 0 ? started : sy.heartbeat_ns;
        strcpy(sy.degraded_reason, reason);
        if ((store = enter(t)) == NULL)
                return NULL;
        err = hshm_sync_publish(store, &sy);
        leave(t);
        if (err != 0)
                return raise_error(err, "sync_publish", NULL);
        Py_RETURN_NONE;
}

/* ---- HedgeTracker: the type ------------------------------------------------------------ */

#define FAST (METH_FASTCALL | METH_KEYWORDS)

static PyMethodDef tracker_methods[] = {
    {"lock_position", (PyCFunction)(void (*)(void))tracker_lock_position, FAST,
     "lock_position(group, symbol) -> bool\n\nAVAILABLE -> HEDGING. True when this call won the "
     "position (the tracker keeps the token); False when it is HEDGING, ACTIVE or ERROR."},
    {"activate_position", (PyCFunction)(void (*)(void))tracker_activate_position, FAST,
     "activate_position(group, symbol, order_id, hedge_symbol=None) -> bool\n\nHEDGING -> "
     "ACTIVE under the token this tracker holds for the key. False when it holds none, or "
     "the lock is no longer current or not HEDGING."},
    {"reset_position", (PyCFunction)(void (*)(void))tracker_reset_position, FAST,
     "reset_position(group, symbol) -> bool\n\nHEDGING or ACTIVE -> AVAILABLE under the "
     "token this tracker holds. False when it holds none or the lock is no longer current."},
    {"is_position_available", (PyCFunction)(void (*)(void))tracker_is_position_available, FAST,
     "is_position_available(group, symbol) -> bool\n\nTrue when AVAILABLE or never used."},
    {"get_position_status", (PyCFunction)(void (*)(void))tracker_get_position_status, FAST,
     "get_position_status(group, symbol) -> dict or None\n\nA consistent snapshot of the "
     "position; None when it was never used."},
    {"status", (PyCFunction)(void (*)(void))tracker_status, FAST,
     "status(group, symbol) -> dict\n\nLike get_position_status, but NoKeyError for a "
     "position never used."},
    {"status_by_token", (PyCFunction)tracker_status_by_token, METH_O,
     "status_by_token(token) -> dict\n\nSnapshot of the slot the token names."},
    {"sync_with_mt5", (PyCFunction)tracker_sync_with_mt5, METH_NOARGS,
     "sync_with_mt5() -> dict\n\nThe sync health the syncer publishes in the segment "
     "(health 'OK', 'DEGRADED' or 'ABSENT'). It reconciles nothing: hedge-syncer does."},
    {"get_statistics", (PyCFunction)tracker_get_statistics, METH_NOARGS,
     "get_statistics() -> dict\n\nPositions by state, and the counters of every process."},
    {"mark_error", (PyCFunction)(void (*)(void))tracker_mark_error, FAST,
     "mark_error(group, symbol, reason='') -> bool\n\nAny state but ERROR -> ERROR. False "
     "when already ERROR."},
    {"clear", (PyCFunction)(void (*)(void))tracker_clear, FAST,
     "clear(group, symbol) -> bool\n\nERROR -> AVAILABLE. False when not ERROR or never used."},
    {"lock", (PyCFunction)(void (*)(void))tracker_lock, FAST,
     "lock(group, symbol) -> int\n\nAVAILABLE -> HEDGING; the token (also kept by the "
     "tracker). BusyError when the position is held."},
    {"activate", (PyCFunction)(void (*)(void))tracker_activate, FAST,
     "activate(token, order_id, hedge_symbol=None)\n\nHEDGING -> ACTIVE. StaleTokenError, "
     "StateError when refused."},
    {"reset", (PyCFunction)(void (*)(void))tracker_reset, FAST,
     "reset(token)\n\nHEDGING or ACTIVE -> AVAILABLE. StaleTokenError when refused."},
    {"release", (PyCFunction)(void (*)(void))tracker_release, FAST,
     "release(token)\n\nHEDGING -> AVAILABLE only: giving up a lock whose order never filled. "
     "StateError once the slot is ACTIVE (the syncer adopted the fill), StaleTokenError when "
     "the lock is no longer current."},
    {"settle_unknown", (PyCFunction)(void (*)(void))tracker_settle_unknown, FAST,
     "settle_unknown(token, sent_ns, grace_ms=1000) -> str or None\n\nDecide a lock whose "
     "order's outcome is unknown. sent_ns: time.time_ns() read right after the order call "
     "returned. Once the syncer has reconciled a snapshot more than grace (the larger of "
     "grace_ms and the syncer's) newer than the send: 'released' (HEDGING, nothing filled: "
     "released), 'adopted' (the syncer adopted the fill: ACTIVE under the token) or "
     "'moved_on' (judged otherwise since). None while not known yet. InvalidError for a "
     "sent_ns before the lock or in the future."},
    {"order_tag", (PyCFunction)(void (*)(void))tracker_order_tag, FAST,
     "order_tag(group, symbol) -> str\n\nThe tag to put in the MT5 order's comment, for the "
     "lock this tracker holds on the position. StaleTokenError when it holds none."},
    {"tag", (PyCFunction)tracker_tag, METH_O,
     "tag(token) -> str\n\nThe order tag of a current lock."},
    {"resolve_tag", (PyCFunction)tracker_resolve_tag, METH_O,
     "resolve_tag(text) -> dict\n\nFind the tag in text (an order comment) and the slot it "
     "names here: {'slot', 'same_instance', 'token'}. NoTagError, NoKeyError."},
    {"token", (PyCFunction)(void (*)(void))tracker_token, FAST,
     "token(group, symbol) -> int or None\n\nThe token of the lock this tracker holds."},
    {"held", (PyCFunction)tracker_held, METH_NOARGS,
     "held() -> dict\n\n{(group, symbol): token} of the locks this tracker holds."},
    {"positions", (PyCFunction)(void (*)(void))tracker_positions, FAST,
     "positions(state=None) -> list\n\nStatus dicts of every position (of one state)."},
    {"info", (PyCFunction)tracker_info, METH_NOARGS, "info() -> dict\n\nShape of the segment."},
    {"sync_claim", (PyCFunction)tracker_sync_claim, METH_NOARGS,
     "sync_claim()\n\nBecome the segment's only syncer while this tracker is open. "
     "BusyError when another process is."},
    {"sync_publish", (PyCFunction)(void (*)(void))tracker_sync_publish,
     METH_VARARGS | METH_KEYWORDS,
     "sync_publish(*, interval_ms=1000, grace_ms=0, snapshot_seq=0, snapshot_time_ms=0, "
     "degraded=False, degraded_since_ns=0, degraded_reason='', counters=None, started_ns=now, "
     "heartbeat_ns=now, pid=getpid())\n\nPublish the sync block (needs sync_claim)."},
    {"close", (PyCFunction)tracker_close, METH_NOARGS,
     "close()\n\nDetach. Locks held stay as they are (an order may be in flight)."},
    {"__enter__", (PyCFunction)tracker_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)tracker_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyObject *get_name(Tracker *t, void *unused)
{
        (void)unused;
        return Py_NewRef(t->name != NULL ? t->name : Py_None);
}

static PyObject *get_read_only(Tracker *t, void *unused)
{
        (void)unused;
        return PyBool_FromLong(t->read_only);
}

static PyObject *get_closed(Tracker *t, void *unused)
{
        (void)unused;
        return PyBool_FromLong(t->store == NULL || atomic_load(&t->closing));
}

static PyGetSetDef tracker_getset[] = {
    {"name", (getter)get_name, NULL, "segment name", NULL},
    {"read_only", (getter)get_read_only, NULL, "opened read-only", NULL},
    {"closed", (getter)get_closed, NULL, "closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* PyVarObject_HEAD_INIT ends in a comma of its own, which clang-format cannot see. */
// clang-format off
static PyTypeObject TrackerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "hedgeshm.HedgeTracker",
    .tp_basicsize = sizeof(Tracker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "HedgeTracker(name=None, lease_ms=None, create=False, capacity=0, "
              "read_only=False)\n\nThe seed's hedge tracker over a hedgeshm segment shared by "
              "every process on the host. name: segment name (None: $HEDGESHM_NAME or "
              "/hedgeshm); lease_ms: lease of the locks it takes; create: create the segment "
              "with capacity slots when missing.",
    .tp_new = tracker_new,
    .tp_init = (initproc)tracker_init,
    .tp_dealloc = (destructor)tracker_dealloc,
    .tp_repr = (reprfunc)tracker_repr,
    .tp_methods = tracker_methods,
    .tp_getset = tracker_getset,
};
// clang-format on

/* ---- module functions ------------------------------------------------------------------ */

static PyObject *mod_create(PyObject *mod, PyObject *args, PyObject *kw)
{
        static const char *const kwlist[] = {"name", "capacity", "mode", "gid", NULL};
        struct hshm_create_opts opts = {0};
        PyObject *name_obj = Py_None, *gid_obj = Py_None;
        unsigned int capacity = 0, mode = 0600;
        const char *name;
        uint64_t gid = 0;
        int err;

        (void)mod;
        if (!PyArg_ParseTupleAndKeywords(args, kw, "|OIIO:create", KWLIST(kwlist), &name_obj,
                                         &capacity, &mode, &gid_obj) ||
            c_str_opt(name_obj, "name", NULL, &name) < 0 ||
            (gid_obj != Py_None && c_u64(gid_obj, "gid", &gid) < 0))
                return NULL;
        name = hshm_resolve_name(name);
        opts.capacity = capacity;
        opts.mode = (mode_t)mode;
        opts.gid = gid_obj == Py_None ? (gid_t)-1 : (gid_t)gid;
        WITHOUT_GIL(err = hshm_create(name, &opts));
        if (err != 0)
                return raise_error(err, "create", NULL);
        return PyUnicode_FromString(name);
}

static PyObject *mod_destroy(PyObject *mod, PyObject *args, PyObject *kw)
{
        static const char *const kwlist[] = {"name", NULL};
        PyObject *name_obj = Py_None;
        const char *name;
        int err;

        (void)mod;
        if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:destroy", KWLIST(kwlist), &name_obj) ||
            c_str_opt(name_obj, "name", NULL, &name) < 0)
                return NULL;
        err = hshm_destroy(hshm_resolve_name(name));
        if (err != 0)
                return raise_error(err, "destroy", NULL);
        Py_RETURN_NONE;
}

static PyObject *mod_resolve_name(PyObject *mod, PyObject *args)
{
        PyObject *name_obj = Py_None;
        const char *name;

        (void)mod;
        if (!PyArg_ParseTuple(args, "|O:resolve_name", &name_obj) ||
            c_str_opt(name_obj, "name", NULL, &name) < 0)
                return NULL;
        return PyUnicode_FromString(hshm_resolve_name(name));
}

static PyObject *mod_validate_name(PyObject *mod, PyObject *arg)
{
        const char *name;
        int err;

        (void)mod;
        if (c_str(arg, "name", &name) < 0)
                return NULL;
        err = hshm_validate_name(name);
        if (err != 0)
                return raise_error(err, "validate_name", NULL);
        Py_RETURN_NONE;
}

static PyObject *mod_validate_key(PyObject *mod, PyObject *args)
{
        PyObject *g_obj, *s_obj;
        const char *g, *s;
        int err;

        (void)mod;
        if (!PyArg_ParseTuple(args, "OO:validate_key", &g_obj, &s_obj) ||
            c_str(g_obj, "group", &g) < 0 || c_str(s_obj, "symbol", &s) < 0)
                return NULL;
        err = hshm_validate_key(g, s);
        if (err != 0)
                return raise_error(err, "validate_key", NULL);
        Py_RETURN_NONE;
}

static PyObject *mod_parse_tag(PyObject *mod, PyObject *arg)
{
        struct hshm_tag tag;
        const char *s;

        (void)mod;
        if (c_str(arg, "text", &s) < 0)
                return NULL;
        if (hshm_tag_parse(s, &tag) != 0)
                Py_RETURN_NONE;
        return tag_dict(&tag);
}

static PyObject *mod_strerror(PyObject *mod, PyObject *arg)
{
        long code = PyLong_AsLong(arg);

        (void)mod;
        if (code == -1 && PyErr_Occurred())
                return NULL;
        if (code < INT_MIN || code > INT_MAX)
                return PyUnicode_FromString("unknown error");
        return PyUnicode_FromString(hshm_strerror((int)code));
}

static PyMethodDef module_methods[] = {
    {"create", (PyCFunction)(void (*)(void))mod_create, METH_VARARGS | METH_KEYWORDS,
     "create(name=None, capacity=0, mode=0o600, gid=None) -> str\n\nCreate a segment; "
     "returns its name. ExistsError when it exists."},
    {"destroy", (PyCFunction)(void (*)(void))mod_destroy, METH_VARARGS | METH_KEYWORDS,
     "destroy(name=None)\n\nRemove a segment's name. NotFoundError when missing."},
    {"resolve_name", mod_resolve_name, METH_VARARGS,
     "resolve_name(name=None) -> str\n\nname, else $HEDGESHM_NAME, else /hedgeshm."},
    {"validate_name", mod_validate_name, METH_O,
     "validate_name(name)\n\nInvalidError unless name is a valid segment name."},
    {"validate_key", mod_validate_key, METH_VARARGS,
     "validate_key(group, symbol)\n\nInvalidError unless (group, symbol) is a valid key."},
    {"parse_tag", mod_parse_tag, METH_O,
     "parse_tag(text) -> dict or None\n\nDecode the order tag found in text."},
    {"strerror", mod_strerror, METH_O, "strerror(code) -> str\n\nThe library's message."},
    {NULL, NULL, 0, NULL},
};

#define STR_(x) #x
#define STR(x)  STR_(x)
#define HSHM_VERSION_STRING                                                                        \
        STR(HSHM_VERSION_MAJOR) "." STR(HSHM_VERSION_MINOR) "." STR(HSHM_VERSION_PATCH)

/* ---- module ---------------------------------------------------------------------------- */

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hedgeshm",
    .m_doc = "Hedge state of trading positions shared by many processes through one POSIX "
             "shared-memory segment (docs/python.md).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int intern_all(void)
{
        static const struct {
                PyObject **obj;
                const char *s;
        } strings[] = {
            {&state_names[HSHM_AVAILABLE], "AVAILABLE"},
            {&state_names[HSHM_HEDGING], "HEDGING"},
            {&state_names[HSHM_ACTIVE], "ACTIVE"},
            {&state_names[HSHM_ERROR], "ERROR"},
            {&health_names[HSHM_SYNC_ABSENT], "ABSENT"},
            {&health_names[HSHM_SYNC_OK], "OK"},
            {&health_names[HSHM_SYNC_DEGRADED], "DEGRADED"},
            {&settled_names[HSHM_SETTLED_RELEASED], "released"},
            {&settled_names[HSHM_SETTLED_ADOPTED], "adopted"},
            {&settled_names[HSHM_SETTLED_MOVED_ON], "moved_on"},
        };

        for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
                *strings[i].obj = PyUnicode_InternFromString(strings[i].s);
                if (*strings[i].obj == NULL)
                        return -1;
        }
        status_template = PyDict_New();
        if (status_template == NULL)
                return -1;
        for (int i = 0; i < N_FIELDS; i++) {
                status_keys[i] = PyUnicode_InternFromString(status_names[i]);
                if (status_keys[i] == NULL ||
                    PyDict_SetItem(status_template, status_keys[i], Py_None) < 0)
                        return -1;
        }
        return 0;
}

static int add_exceptions(PyObject *m)
{
        PyObject *dict = Py_BuildValue("{ss}", "__doc__",
                                       "Base of every hedgeshm error: .code is the library's "
                                       "value, .errno the errno (None for a library code), "
                                       ".detail what exactly was wrong.");

        if (dict == NULL)
                return -1;
        HedgeShmError = PyErr_NewException("hedgeshm.HedgeShmError", PyExc_Exception, dict);
        Py_DECREF(dict);
        if (HedgeShmError == NULL || PyModule_AddObjectRef(m, "HedgeShmError", HedgeShmError) < 0)
                return -1;
        for (size_t i = 0; i < sizeof(exc_specs) / sizeof(exc_specs[0]); i++) {
                const struct exc_spec *e = &exc_specs[i];
                char qual[64];
                PyObject *bases = e->builtin != NULL ? PyTuple_Pack(2, HedgeShmError, *e->builtin)
                                                     : PyTuple_Pack(1, HedgeShmError);

                if (bases == NULL)
                        return -1;
                snprintf(qual, sizeof(qual), "hedgeshm.%s", e->name);
                *e->type = PyErr_NewExceptionWithDoc(qual, e->doc, bases, NULL);
                Py_DECREF(bases);
                if (*e->type == NULL || PyModule_AddObjectRef(m, e->name, *e->type) < 0)
                        return -1;
        }
        return 0;
}

static int add_constants(PyObject *m)
{
        static const struct {
                const char *name;
                long value;
        } ints[] = {
            {"GROUP_MAX", HSHM_GROUP_MAX},
            {"SYMBOL_MAX", HSHM_SYMBOL_MAX},
            {"REASON_MAX", HSHM_REASON_MAX},
            {"TAG_LEN", HSHM_TAG_LEN},
            {"CAPACITY_MIN", HSHM_CAPACITY_MIN},
            {"CAPACITY_MAX", HSHM_CAPACITY_MAX},
            {"CAPACITY_DEFAULT", HSHM_CAPACITY_DEFAULT},
            {"LEASE_DEFAULT_MS", HSHM_LEASE_DEFAULT_MS},
            {"ENOTSEG", HSHM_ENOTSEG},
            {"EVERSION", HSHM_EVERSION},
            {"ELAYOUT", HSHM_ELAYOUT},
            {"ETRUNC", HSHM_ETRUNC},
            {"ECORRUPT", HSHM_ECORRUPT},
            {"ESTALE", HSHM_ESTALE},
            {"ESTATE", HSHM_ESTATE},
            {"ENOKEY", HSHM_ENOKEY},
            {"EINIT", HSHM_EINIT},
            {"ENOTAG", HSHM_ENOTAG},
        };

        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
                if (PyModule_AddIntConstant(m, ints[i].name, ints[i].value) < 0)
                        return -1;
        for (int i = 0; i < 4; i++)
                if (PyModule_AddObjectRef(m, PyUnicode_AsUTF8(state_names[i]), state_names[i]) < 0)
                        return -1;
        if (PyModule_AddStringConstant(m, "DEFAULT_NAME", HSHM_DEFAULT_NAME) < 0 ||
            PyModule_AddStringConstant(m, "NAME_ENV", HSHM_NAME_ENV) < 0)
                return -1;
        return PyModule_AddStringConstant(m, "__version__", HSHM_VERSION_STRING);
}

PyMODINIT_FUNC PyInit_hedgeshm(void);

PyMODINIT_FUNC PyInit_hedgeshm(void)
{
        static int atfork_done;
        PyObject *m;

        if (!atfork_done) {
                if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0)
                        return PyErr_NoMemory();
                atfork_done = 1;
        }
        if (PyType_Ready(&TrackerType) < 0 || intern_all() < 0)
                return NULL;
        m = PyModule_Create(&module_def);
        if (m == NULL)
                return NULL;
        if (add_exceptions(m) < 0 || add_constants(m) < 0 ||
            PyModule_AddObjectRef(m, "HedgeTracker", (PyObject *)&TrackerType) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}
