/*
 * Statement deadlines for Patina: a loadable SQLite extension.
 *
 * better-sqlite3 is compiled with SQLITE_OMIT_PROGRESS_CALLBACK and exposes no interrupt, so a
 * running statement cannot be stopped from JavaScript. This extension stops it from inside
 * SQLite: every connection that loads it gets the SQL function
 *
 *     __patina_deadline(key BLOB, ms INTEGER) -> INTEGER
 *
 * and one watchdog thread per process calls sqlite3_interrupt() on a connection whose armed
 * deadline has passed.
 *
 *   - The first call on a connection sets its key (at least 16 bytes; the loader calls it right
 *     after loading, before any client SQL runs there). Every later call must give the same key,
 *     so a client statement cannot arm, extend or disarm a deadline.
 *   - ms > 0 arms: the deadline is now + ms (CLOCK_MONOTONIC). ms = 0 disarms.
 *   - The result is 1 when the watchdog interrupted the connection for the deadline that was
 *     armed until this call, else 0 (so the caller knows an SQLITE_INTERRUPT was its deadline).
 *   - __patina_deadline(key, ms, target BLOB) brings the armed deadline of the connections whose
 *     key is `target` forward to now + ms (a connection of another thread: a read thread's
 *     statement is cancelled from the main thread). It returns how many it found armed.
 *   - An overdue connection is interrupted again every millisecond until it is disarmed, because
 *     SQLite drops an interrupt that arrives between two statements. Disarming may therefore
 *     itself fail with SQLITE_INTERRUPT before this function runs; the caller calls it again.
 *
 * Arming, disarming and the watchdog's interrupt all hold one mutex, so an interrupt never
 * reaches a connection whose deadline was disarmed. The watchdog sleeps on a condition
 * variable until the earliest armed deadline; arming signals it only when the new deadline is
 * earlier than the one it sleeps on (the common case, a deadline later than one already
 * pending or none needed at all, costs a mutex and a clock read). The function's destroy
 * callback unregisters the connection when it closes.
 *
 * Pure C against sqlite3ext.h: no Node API, so one build works with every Node version. The
 * library pins itself in memory (RTLD_NODELETE): SQLite unloads an extension when the last
 * connection that loaded it closes, and the watchdog thread's code must stay mapped.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __APPLE__
#include <sys/time.h>
#endif

#define REFIRE_NS 1000000LL /* 1 ms */
#define KEY_MIN 16
#define KEY_MAX 64

typedef struct Guard {
  sqlite3 *db;
  long long deadline_ns; /* 0: disarmed */
  int fired;             /* the watchdog interrupted this connection for the current arm */
  int key_len;           /* 0: no key yet */
  unsigned char key[KEY_MAX];
  struct Guard *next;
} Guard;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static Guard *guards = 0;
static int started = 0;
/* The deadline the watchdog sleeps until; 0 while it waits with nothing armed. */
static long long sleeping_until = 0;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void wait_until(long long at_ns) {
#ifdef __APPLE__
  long long rel = at_ns - now_ns();
  if (rel < 0) rel = 0;
  struct timespec ts = {(time_t)(rel / 1000000000LL), (long)(rel % 1000000000LL)};
  pthread_cond_timedwait_relative_np(&cv, &mu, &ts);
#else
  struct timespec ts = {(time_t)(at_ns / 1000000000LL), (long)(at_ns % 1000000000LL)};
  pthread_cond_timedwait(&cv, &mu, &ts);
#endif
}

static void *watch(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    long long next = 0;
    long long n = now_ns();
    for (Guard *g = guards; g; g = g->next) {
      if (g->deadline_ns == 0) continue;
      if (g->deadline_ns <= n) {
        sqlite3_interrupt(g->db);
        g->fired = 1;
        /* SQLite forgets an interrupt that arrives while no statement runs on the connection
         * (the next statement to start clears it), so an overdue connection is interrupted
         * again every REFIRE_NS until it is disarmed: a statement that starts after its
         * deadline (the next of a transaction, or one stepped again later) is stopped too. */
        g->deadline_ns = n + REFIRE_NS;
      }
      if (next == 0 || g->deadline_ns < next) {
        next = g->deadline_ns;
      }
    }
    sleeping_until = next;
    if (next) wait_until(next);
    else pthread_cond_wait(&cv, &mu);
  }
  return 0;
}

static int check_key(Guard *g, sqlite3_value *v, int may_set) {
  if (sqlite3_value_type(v) != SQLITE_BLOB) return 0;
  int len = sqlite3_value_bytes(v);
  const void *key = sqlite3_value_blob(v);
  if (g->key_len == 0) {
    if (!may_set || len < KEY_MIN || len > KEY_MAX) return 0;
    memcpy(g->key, key, (size_t)len);
    g->key_len = len;
    return 1;
  }
  return len == g->key_len && memcmp(g->key, key, (size_t)len) == 0;
}

static int is_number(sqlite3_value *v) {
  int t = sqlite3_value_type(v);
  return t == SQLITE_INTEGER || t == SQLITE_FLOAT;
}

/* Arms at now + ms; signals the watchdog when it sleeps past the new deadline. mu held. */
static void arm_locked(Guard *g, long long ms) {
  long long at = now_ns() + ms * 1000000LL;
  g->deadline_ns = at;
  if (sleeping_until == 0 || at < sleeping_until) {
    sleeping_until = at;
    pthread_cond_signal(&cv);
  }
}

static void deadline_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Guard *g = sqlite3_user_data(ctx);
  if (!is_number(argv[1]) || (argc == 3 && sqlite3_value_type(argv[2]) != SQLITE_BLOB)) {
    sqlite3_result_error(ctx, "__patina_deadline is internal to Patina", -1);
    return;
  }
  long long ms = sqlite3_value_int64(argv[1]);
  pthread_mutex_lock(&mu);
  if (!check_key(g, argv[0], argc == 2 && ms == 0)) {
    pthread_mutex_unlock(&mu);
    sqlite3_result_error(ctx, "__patina_deadline is internal to Patina", -1);
    return;
  }
  if (argc == 3) {
    /* Bring forward the armed deadline of the connections keyed `argv[2]` (another thread's
     * connections: a read thread whose query was cancelled) to now + ms. Connections not armed
     * are left alone, so a later statement there is never hit. */
    int n = 0;
    for (Guard *t = guards; t; t = t->next) {
      if (t->deadline_ns != 0 && check_key(t, argv[2], 0)) {
        long long at = now_ns() + (ms > 0 ? ms : 0) * 1000000LL;
        if (at < t->deadline_ns) arm_locked(t, ms > 0 ? ms : 0);
        n++;
      }
    }
    pthread_mutex_unlock(&mu);
    sqlite3_result_int(ctx, n);
    return;
  }
  int fired = g->fired;
  g->fired = 0;
  if (ms > 0) arm_locked(g, ms);
  else g->deadline_ns = 0;
  pthread_mutex_unlock(&mu);
  sqlite3_result_int(ctx, fired);
}

static void destroy(void *p) {
  Guard *g = p;
  pthread_mutex_lock(&mu);
  for (Guard **pp = &guards; *pp; pp = &(*pp)->next) {
    if (*pp == g) {
      *pp = g->next;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  sqlite3_free(g);
}

/* Keeps this library mapped for the life of the process (see the header comment). */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)&pin_library, &info) && info.dli_fname) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
  }
}

static int start_watchdog(char **err) {
  if (started) return SQLITE_OK;
  pthread_condattr_t a;
  pthread_condattr_init(&a);
#ifndef __APPLE__
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
#endif
  pthread_cond_init(&cv, &a);
  pthread_condattr_destroy(&a);
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&ta, 64 * 1024);
  pthread_t t;
  int rc = pthread_create(&t, &ta, watch, 0);
  pthread_attr_destroy(&ta);
  if (rc != 0) {
    *err = sqlite3_mprintf("patina deadline: cannot start the watchdog thread (error %d)", rc);
    return SQLITE_ERROR;
  }
  pin_library();
  started = 1;
  return SQLITE_OK;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_patinadeadline_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
  SQLITE_EXTENSION_INIT2(api);
  Guard *g = sqlite3_malloc(sizeof(Guard));
  if (!g) return SQLITE_NOMEM;
  memset(g, 0, sizeof(Guard));
  g->db = db;
  pthread_mutex_lock(&mu);
  int rc = start_watchdog(err);
  if (rc == SQLITE_OK) {
    g->next = guards;
    guards = g;
  }
  pthread_mutex_unlock(&mu);
  if (rc != SQLITE_OK) {
    sqlite3_free(g);
    return rc;
  }
  /* The 2-argument form owns the guard: on failure, or when the connection closes, SQLite
   * calls destroy(g), which unregisters it. The 3-argument form shares it. */
  rc = sqlite3_create_function_v2(db, "__patina_deadline", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, g,
                                  deadline_fn, 0, 0, destroy);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_create_function_v2(db, "__patina_deadline", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, g,
                                    deadline_fn, 0, 0, 0);
}
