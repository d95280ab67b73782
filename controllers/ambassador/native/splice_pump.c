// The ambassador's kernel data path: moves bytes between the two connected TCP sockets of
// a forwarded connection with splice(2), socket -> pipe -> socket, so the bytes never enter
// user space. A copying proxy reads every byte into its memory and writes it out again,
// which doubles the copies of a transfer. One thread per pump waits on epoll
// (edge-triggered) for all its pairs; Node keeps the sockets (it connected and owns them)
// and closes them when the pump reports a pair done.
//
// It also sets the TCP congestion control of the ambassador's own sockets (setCongestion),
// which Node has no option for.
//
// Node-API only (node_api.h ships with Node), built by node-gyp: no other dependency.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// What one direction may move in one turn before the other pairs get theirs: a pair whose
// source never runs dry must not hold the thread (nor a cancel() waiting on its lock).
#define TURN_BYTES (4u << 20)
// TCP_CA_NAME_MAX in the kernel (not in the user-space headers): the longest algorithm name + 1.
#define CA_NAME_MAX 16
#define PAIR_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

typedef struct direction {
  int src, dst;
  int pipe_r, pipe_w;
  size_t cap;      // what the pipe holds (the kernel may grant less than asked)
  size_t in_pipe;  // bytes read from src not yet written to dst
  int eof;         // src sent FIN
  int shut;        // ... and dst was told (shutdown SHUT_WR)
  uint64_t bytes;  // written to dst
} direction;

typedef struct completion {
  double id;
  int error;
  double bytes_ab, bytes_ba;
} completion;

typedef struct pair {
  double id;
  direction dir[2];  // 0: a -> b, 1: b -> a
  // The pair's report, allocated with the pair so that reporting cannot fail; the
  // thread-safe function's queue owns it once sent.
  completion *report;
  // Held while the pump thread moves this pair's bytes, so that cancel() returns only once
  // the thread no longer touches its sockets (Node may close them, and a new socket may get
  // the same descriptor number).
  pthread_mutex_t lock;
  int finished;  // done, failed or cancelled: the sockets are no longer ours
  int listed;    // in the pump's active list
  int added;     // sockets registered with epoll: 0, 1 (a) or 2 (a and b)
  struct pair *next;
  struct pair *grave_next;
} pair;

typedef struct pump {
  int epfd;
  int wakefd;
  pthread_t thread;
  int thread_started;
  // Guards `active`, `graveyard` and `stopping` (taken before a pair's lock, never after).
  pthread_mutex_t lock;
  pair *active;
  // Finished pairs, freed by the pump thread after the epoll batch that may still name them.
  pair *graveyard;
  int stopping;
  int destroyed;
  int hooked;  // the env cleanup hook is registered
  size_t pipe_size;
  // Resize pipes to pipe_size: only as root (see make_pipe), decided once, not per pipe.
  int resize_pipes;
  napi_env env;
  napi_threadsafe_function tsfn;
  uint32_t js_pending;  // pairs added and not yet reported or cancelled (main thread only)
} pump;

#define CHECK(env, call)                                 \
  do {                                                   \
    if ((call) != napi_ok) {                             \
      napi_throw_error((env), NULL, "napi call failed"); \
      return NULL;                                       \
    }                                                    \
  } while (0)

// The call's first n arguments (those not given read as undefined).
static napi_status get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void close_pipes(pair *x) {
  for (int i = 0; i < 2; i++) {
    if (x->dir[i].pipe_r >= 0) close(x->dir[i].pipe_r);
    if (x->dir[i].pipe_w >= 0) close(x->dir[i].pipe_w);
    x->dir[i].pipe_r = x->dir[i].pipe_w = -1;
  }
}

static void free_pair(pair *x) {
  free(x->report);
  pthread_mutex_destroy(&x->lock);
  free(x);
}

// Stops watching a pair's sockets; caller holds the pair's lock.
static void detach(pump *p, pair *x) {
  x->finished = 1;
  if (x->added > 0) epoll_ctl(p->epfd, EPOLL_CTL_DEL, x->dir[0].src, NULL);
  if (x->added > 1) epoll_ctl(p->epfd, EPOLL_CTL_DEL, x->dir[0].dst, NULL);
  x->added = 0;
  close_pipes(x);
}

// Whether src's next byte is TCP urgent data (MSG_OOB): splice stops in front of it for
// good, and only a plain recv() steps over it.
static int at_urgent_mark(int fd) {
  int mark = 0;
  return ioctl(fd, SIOCATMARK, &mark) == 0 && mark;
}

// At the urgent mark, with the pipe empty: recv() skips the urgent byte (as Node's reads
// do) and clears the mark; what it read goes into the pipe. Returns as recv() does.
static ssize_t read_past_mark(direction *d) {
  char buf[16384];
  ssize_t n = recv(d->src, buf, sizeof buf, MSG_DONTWAIT);
  if (n <= 0) return n;
  // The pipe is empty and holds more than buf, so the write is whole.
  if (write(d->pipe_w, buf, (size_t)n) != n) {
    errno = EIO;
    return -1;
  }
  return n;
}

// Moves what can be moved now in one direction; returns 0 or the errno that ended it.
// Sets *more when it stopped for its turn's budget, with bytes still waiting.
static int move(direction *d, int *more) {
  size_t moved = 0;
  for (;;) {
    if (moved >= TURN_BYTES) {
      *more = 1;
      return 0;
    }
    int progressed = 0;
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe_r, NULL, d->dst, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        d->bytes += (uint64_t)n;
        moved += (size_t)n;
        progressed = 1;
      } else if (n < 0 && errno != EAGAIN) {
        return errno;
      }
    }
    // EAGAIN here means either no data on src or a full pipe; a full pipe is retried as
    // soon as the write above drains it, so edge-triggered wakeups are never missed.
    if (!d->eof && d->in_pipe < d->cap) {
      ssize_t n = splice(d->src, NULL, d->pipe_w, NULL, d->cap - d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      // Stopped at urgent data (splice returns EAGAIN there, or 0 once a FIN follows).
      if ((n == 0 || (n < 0 && errno == EAGAIN)) && d->in_pipe == 0 && at_urgent_mark(d->src)) n = read_past_mark(d);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        progressed = 1;
      } else if (n == 0) {
        d->eof = 1;
        progressed = 1;
      } else if (errno != EAGAIN) {
        return errno;
      }
    }
    if (d->eof && d->in_pipe == 0 && !d->shut) {
      // Half-close passed on: the other side may still answer.
      if (shutdown(d->dst, SHUT_WR) < 0 && errno != ENOTCONN) return errno;
      d->shut = 1;
    }
    if (!progressed || d->shut) return 0;
  }
}

static int socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

static void report(pump *p, pair *x, int err) {
  completion *c = x->report;
  x->report = NULL;
  c->id = x->id;
  c->error = err;
  c->bytes_ab = (double)x->dir[0].bytes;
  c->bytes_ba = (double)x->dir[1].bytes;
  if (napi_call_threadsafe_function(p->tsfn, c, napi_tsfn_nonblocking) != napi_ok) free(c);
}

// One pair's turn after an epoll event; returns 1 if the pair finished.
static int step(pump *p, pair *x, uint32_t events) {
  int err = 0, more = 0;
  if (events & EPOLLERR) {
    err = socket_error(x->dir[0].src);
    if (!err) err = socket_error(x->dir[0].dst);
  }
  for (int i = 0; !err && i < 2; i++) err = move(&x->dir[i], &more);
  if (!err && !(x->dir[0].shut && x->dir[1].shut)) {
    if (more) {
      // Edge-triggered: no new edge comes for bytes already waiting. Re-arming makes epoll
      // check readiness again and queue the pair behind the others.
      struct epoll_event ev = {.events = PAIR_EVENTS, .data.ptr = x};
      epoll_ctl(p->epfd, EPOLL_CTL_MOD, x->dir[0].src, &ev);
      epoll_ctl(p->epfd, EPOLL_CTL_MOD, x->dir[0].dst, &ev);
    }
    return 0;
  }
  detach(p, x);
  report(p, x, err);
  return 1;
}

static void unlist(pump *p, pair *x) {
  if (!x->listed) return;
  for (pair **at = &p->active; *at; at = &(*at)->next) {
    if (*at == x) {
      *at = x->next;
      break;
    }
  }
  x->listed = 0;
  x->grave_next = p->graveyard;
  p->graveyard = x;
}

static void free_graveyard(pump *p) {
  while (p->graveyard) {
    pair *x = p->graveyard;
    p->graveyard = x->grave_next;
    free_pair(x);
  }
}

static void *run(void *arg) {
  pump *p = arg;
  struct epoll_event events[128];
  pair *done[128];
  for (;;) {
    int n = epoll_wait(p->epfd, events, 128, -1);
    // Only EINTR is expected; anything else is a bug here, and spinning on it would not help.
    if (n < 0 && errno != EINTR) break;
    int ndone = 0;
    for (int i = 0; i < n; i++) {
      pair *x = events[i].data.ptr;
      if (!x) {  // the wake-up eventfd: stop() or nothing
        uint64_t v;
        ssize_t r = read(p->wakefd, &v, sizeof v);
        (void)r;
        continue;
      }
      pthread_mutex_lock(&x->lock);
      if (!x->finished && step(p, x, events[i].events)) done[ndone++] = x;
      pthread_mutex_unlock(&x->lock);
    }
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < ndone; i++) unlist(p, done[i]);
    free_graveyard(p);
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    if (stopping) break;
  }
  return NULL;
}

// Runs on Node's thread for each completion the pump thread queued (env is NULL when the
// queue is emptied at teardown: then only free).
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  pump *p = context;
  completion *c = data;
  if (env && cb && !p->destroyed) {
    if (p->js_pending > 0 && --p->js_pending == 0) napi_unref_threadsafe_function(env, p->tsfn);
    napi_value argv[4], undefined;
    napi_create_double(env, c->id, &argv[0]);
    napi_create_int32(env, c->error, &argv[1]);
    napi_create_double(env, c->bytes_ab, &argv[2]);
    napi_create_double(env, c->bytes_ba, &argv[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 4, argv, NULL);
  }
  free(c);
}

static void cleanup_hook(void *arg);

static void stop_pump(pump *p) {
  if (p->destroyed) return;
  p->destroyed = 1;
  if (p->hooked) {
    p->hooked = 0;
    napi_remove_env_cleanup_hook(p->env, cleanup_hook, p);
  }
  if (p->thread_started) {
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_mutex_unlock(&p->lock);
    uint64_t one = 1;
    ssize_t w = write(p->wakefd, &one, sizeof one);
    (void)w;
    pthread_join(p->thread, NULL);
  }
  while (p->active) {
    pair *x = p->active;
    p->active = x->next;
    x->listed = 0;
    detach(p, x);
    x->grave_next = p->graveyard;
    p->graveyard = x;
  }
  free_graveyard(p);
  if (p->tsfn) napi_release_threadsafe_function(p->tsfn, napi_tsfn_abort);
  p->tsfn = NULL;
  close(p->epfd);
  close(p->wakefd);
}

// Node tears the environment down (a worker ends, or the process ends without close()):
// the thread must stop before the thread-safe function it reports through is freed, which
// happens before objects are finalized. Registered after that function, so it runs first.
static void cleanup_hook(void *arg) {
  pump *p = arg;
  p->hooked = 0;
  stop_pump(p);
}

static void finalize_pump(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  pump *p = data;
  stop_pump(p);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

static pump *get_pump(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "not a pump");
    return NULL;
  }
  pump *p = data;
  if (p->destroyed) {
    napi_throw_error(env, NULL, "pump is closed");
    return NULL;
  }
  return p;
}

// createPump(pipeSize, onDone(id, errno, bytesAtoB, bytesBtoA)) -> pump
static napi_value create_pump(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  CHECK(env, get_args(env, info, 2, argv));
  int64_t pipe_size = 0;
  CHECK(env, napi_get_value_int64(env, argv[0], &pipe_size));
  pump *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, "createPump", ENOMEM);
  p->pipe_size = pipe_size > 0 ? (size_t)pipe_size : 65536;
  p->resize_pipes = geteuid() == 0;
  p->env = env;
  pthread_mutex_init(&p->lock, NULL);
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  napi_value name;
  int err = 0;
  if (p->epfd < 0 || p->wakefd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) < 0) err = errno;
  if (!err && (napi_create_string_utf8(env, "splice-pump", NAPI_AUTO_LENGTH, &name) != napi_ok ||
               napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, NULL, NULL, p, call_js, &p->tsfn) != napi_ok)) {
    err = EINVAL;
  }
  if (!err) {
    // Idle pumps do not keep the process alive; add() refs it while pairs are open.
    napi_unref_threadsafe_function(env, p->tsfn);
    // The thread takes no signals: they are the main thread's (and a splice into a reset
    // socket must come back as EPIPE, not as a SIGPIPE to whichever thread).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&p->thread, NULL, run, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!err) p->thread_started = 1;
  }
  napi_value external;
  if (!err && napi_create_external(env, p, finalize_pump, NULL, &external) != napi_ok) err = EINVAL;
  if (err) {
    if (p->epfd >= 0 && p->wakefd >= 0) {
      stop_pump(p);
    } else {
      if (p->epfd >= 0) close(p->epfd);
      if (p->wakefd >= 0) close(p->wakefd);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
    return throw_errno(env, "createPump", err);
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, p) == napi_ok) p->hooked = 1;
  return external;
}

static int make_pipe(pump *p, direction *d) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return errno;
  d->pipe_r = fds[0];
  d->pipe_w = fds[1];
  // Larger pipes move more per splice (fewer calls, segments and ACKs). Unprivileged, each
  // resized pipe counts against the user's pipe-user-pages-soft, past which every new pipe
  // of the user gets 2 pages: keep the default size then. The kernel may also grant less.
  if (p->resize_pipes) fcntl(d->pipe_w, F_SETPIPE_SZ, (int)p->pipe_size);
  int actual = fcntl(d->pipe_w, F_GETPIPE_SZ);
  d->cap = actual > 0 ? (size_t)actual : 65536;
  return 0;
}

static int nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK);
}

// add(pump, id, fdA, fdB): from now on the pump moves bytes both ways between the sockets.
static napi_value add(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  CHECK(env, get_args(env, info, 4, argv));
  pump *p = get_pump(env, argv[0]);
  if (!p) return NULL;
  double id;
  int32_t a, b;
  CHECK(env, napi_get_value_double(env, argv[1], &id));
  CHECK(env, napi_get_value_int32(env, argv[2], &a));
  CHECK(env, napi_get_value_int32(env, argv[3], &b));
  // A blocking socket would stall the thread inside splice, holding the pair's lock.
  if (!nonblocking(a) || !nonblocking(b)) return throw_errno(env, "add: socket is blocking", EINVAL);
  pair *x = calloc(1, sizeof *x);
  completion *c = malloc(sizeof *c);
  if (!x || !c) {
    free(x);
    free(c);
    return throw_errno(env, "add", ENOMEM);
  }
  x->id = id;
  x->report = c;
  x->dir[0] = (direction){.src = a, .dst = b, .pipe_r = -1, .pipe_w = -1};
  x->dir[1] = (direction){.src = b, .dst = a, .pipe_r = -1, .pipe_w = -1};
  pthread_mutex_init(&x->lock, NULL);
  int err = make_pipe(p, &x->dir[0]);
  if (!err) err = make_pipe(p, &x->dir[1]);
  if (err) {
    close_pipes(x);
    free_pair(x);
    return throw_errno(env, "add: pipe", err);
  }
  pthread_mutex_lock(&p->lock);
  x->next = p->active;
  p->active = x;
  x->listed = 1;
  pthread_mutex_unlock(&p->lock);
  if (p->js_pending++ == 0) napi_ref_threadsafe_function(env, p->tsfn);
  // Edge-triggered on both sockets; the first events come at once (both are writable, and
  // any bytes already waiting are readable), which starts the pair.
  struct epoll_event ev = {.events = PAIR_EVENTS, .data.ptr = x};
  pthread_mutex_lock(&x->lock);
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, a, &ev) == 0) x->added = 1;
  if (x->added == 1 && epoll_ctl(p->epfd, EPOLL_CTL_ADD, b, &ev) == 0) x->added = 2;
  if (x->added < 2) {
    err = errno;
    detach(p, x);
    pthread_mutex_unlock(&x->lock);
    pthread_mutex_lock(&p->lock);
    unlist(p, x);  // freed by the pump thread after its current batch
    pthread_mutex_unlock(&p->lock);
    if (--p->js_pending == 0) napi_unref_threadsafe_function(env, p->tsfn);
    return throw_errno(env, "add: epoll", err);
  }
  pthread_mutex_unlock(&x->lock);
  return NULL;
}

// cancel(pump, id) -> true if the pair was still open: the pump has let go of its sockets
// and will not report it. False: it already finished (its report is on the way or done).
static napi_value cancel(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  CHECK(env, get_args(env, info, 2, argv));
  pump *p = get_pump(env, argv[0]);
  if (!p) return NULL;
  double id;
  CHECK(env, napi_get_value_double(env, argv[1], &id));
  int cancelled = 0;
  pthread_mutex_lock(&p->lock);
  for (pair *x = p->active; x; x = x->next) {
    if (x->id != id) continue;
    pthread_mutex_lock(&x->lock);
    if (!x->finished) {
      detach(p, x);
      cancelled = 1;
    }
    pthread_mutex_unlock(&x->lock);
    if (cancelled) unlist(p, x);
    break;
  }
  pthread_mutex_unlock(&p->lock);
  if (cancelled && --p->js_pending == 0) napi_unref_threadsafe_function(env, p->tsfn);
  CHECK(env, napi_get_boolean(env, cancelled, &result));
  return result;
}

// close(pump): stops the thread; pairs still open are let go (their sockets stay Node's).
static napi_value close_pump(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  CHECK(env, get_args(env, info, 1, argv));
  void *data = NULL;
  CHECK(env, napi_get_value_external(env, argv[0], &data));
  stop_pump(data);
  return NULL;
}

// setCongestion(fd, name) -> 0, or the errno of setsockopt(TCP_CONGESTION): ENOENT for an
// algorithm the kernel lacks, EPERM for one net.ipv4.tcp_allowed_congestion_control does not
// list (without CAP_NET_ADMIN).
static napi_value set_congestion(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  CHECK(env, get_args(env, info, 2, argv));
  int32_t fd;
  char name[CA_NAME_MAX];
  size_t len;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  // A longer name is cut short, and the kernel then rejects it (no such algorithm).
  CHECK(env, napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len));
  int err = setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)len) < 0 ? errno : 0;
  napi_value result;
  CHECK(env, napi_create_int32(env, err, &result));
  return result;
}

// getCongestion(fd) -> the socket's congestion control, or "" if it has none (not TCP).
static napi_value get_congestion(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  CHECK(env, get_args(env, info, 1, argv));
  int32_t fd;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  char name[CA_NAME_MAX + 1] = {0};
  socklen_t len = CA_NAME_MAX;
  if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) < 0) name[0] = 0;
  napi_value result;
  CHECK(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"createPump", NULL, create_pump, NULL, NULL, NULL, napi_default, NULL},
      {"add", NULL, add, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, cancel, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_pump, NULL, NULL, NULL, napi_default, NULL},
      {"setCongestion", NULL, set_congestion, NULL, NULL, NULL, napi_default, NULL},
      {"getCongestion", NULL, get_congestion, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
