/* bindery_native: the syscalls of the vhost-user back-end — a unix listener, messages with fds, region mmap, eventfds. */
/*
 * The vhost-user protocol and the virtqueues are TypeScript (src/usernet/link/vhost-user/); this
 * file only does what JS cannot: receive a message's fds (recvmsg + SCM_RIGHTS), map guest memory
 * regions (mmap of the fds QEMU sends in SET_MEM_TABLE) as external ArrayBuffers, and read and
 * write the kick/call eventfds, with readiness reported through libuv (uv_poll) on Node's own
 * event loop.
 *
 * Every fd is a tagged external (VU_FD_TAG) holding the fd, -1 once closed: no fd number crosses
 * into JS, and a call on a closed handle meets EBADF. A mapping is a tagged external (VU_MAP_TAG)
 * plus the ArrayBuffer over it; vhostUnmap detaches the ArrayBuffer before munmap, so every
 * typed-array view over it has length 0 from then on (reads give undefined, writes are dropped):
 * no JS view ever points at unmapped memory. Both the handle and the ArrayBuffer hold a reference
 * to the mapping; whichever is finalised last frees it, and the mapping is unmapped at the first
 * of vhostUnmap or the ArrayBuffer's finaliser.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "glue.h"

/* Most fds one vhost-user message carries (SET_MEM_TABLE: VHOST_MEMORY_BASELINE_NREGIONS). */
#define VU_MAX_FDS 8

/* One fd (listener, connection, eventfd, region fd) with its optional readiness watcher. */
typedef struct vu_fd {
  int fd;
  uv_poll_t *poll; /* non-NULL while watched */
  napi_env env;
  napi_ref cb;
} vu_fd;

/* One mapping: the whole mmap (base, len) and the region's view (base + off). */
typedef struct {
  void *base;
  size_t len;
  int refs; /* the handle and the ArrayBuffer */
  napi_ref ab; /* weak */
} vu_map;

static const napi_type_tag VU_FD_TAG = {0x62696e6465727976ULL, 0x686f737466643031ULL};
static const napi_type_tag VU_MAP_TAG = {0x62696e6465727976ULL, 0x686f73746d617031ULL};

static void poll_closed(uv_handle_t *h) { free(h); }

/* Stops watching (the uv handle is freed once libuv has closed it). */
static void fd_unwatch(vu_fd *f) {
  if (f->poll != NULL) {
    uv_poll_stop(f->poll);
    uv_close((uv_handle_t *)f->poll, poll_closed);
    f->poll = NULL;
  }
  if (f->cb != NULL) {
    napi_delete_reference(f->env, f->cb);
    f->cb = NULL;
  }
}

static void fd_close(vu_fd *f) {
  fd_unwatch(f);
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
}

static void fd_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  vu_fd *f = data;
  /* At env teardown references may be gone already: close the fd, leave the rest to libuv. */
  if (f->poll != NULL) {
    uv_poll_stop(f->poll);
    f->poll->data = NULL;
    uv_close((uv_handle_t *)f->poll, poll_closed);
    f->poll = NULL;
  }
  if (f->fd >= 0) close(f->fd);
  free(f);
}

/* Closes the fd of a handle that could not be tagged (the finaliser frees it). */
static void fd_drop(void *data) { fd_close(data); }

static napi_value fd_new(napi_env env, int fd) {
  vu_fd *f = calloc(1, sizeof *f);
  if (f == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "calloc", NULL);
  }
  f->fd = fd;
  f->env = env;
  return tagged_new(env, f, fd, fd_finalize, &VU_FD_TAG, fd_drop);
}

static vu_fd *fd_get(napi_env env, napi_value v) {
  return tagged_get(env, v, &VU_FD_TAG, "not a bindery vhost-user fd handle");
}

/* vhostListen(path): handle — a non-blocking unix stream listener bound at path (backlog 1). */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[STR_MAX];
  if (!get_string(env, argv[0], path, false, "path must be a string")) return NULL;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return throw_errno(env, ENAMETOOLONG, "bind", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind", path);
  }
  return fd_new(env, fd);
}

/* vhostAccept(listener): handle | errno — the next connection (non-blocking), or EAGAIN etc. */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  if (f->fd < 0) return num(env, EBADF);
  int c = accept4(f->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return num(env, errno);
  return fd_new(env, c);
}

/*
 * vhostRecv(conn, buf): [n, fds[]] — one recvmsg into buf (n: bytes, 0 at EOF, -errno on
 * failure) with the fds that came with these bytes, each as a handle. Fds past VU_MAX_FDS or
 * from a truncated control message are closed here.
 */
static napi_value js_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  const uint8_t *data;
  size_t len;
  if (!get_bytes(env, argv[1], &data, &len)) return NULL;
  napi_value fds;
  CHECK(env, napi_create_array(env, &fds));
  if (f->fd < 0) return pair(env, num(env, -EBADF), fds);
  union {
    char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {(void *)data, len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                      .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do {
    n = recvmsg(f->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return pair(env, num(env, -errno), fds);
  uint32_t k = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *p = (int *)CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, &p[i], sizeof fd);
      napi_value h = fd_new(env, fd);
      if (h == NULL) return NULL;
      CHECK(env, napi_set_element(env, fds, k++, h));
    }
  }
  return pair(env, num(env, n), fds);
}

/* vhostSend(conn, bytes): n | -errno — one send (MSG_NOSIGNAL). */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  const uint8_t *data;
  size_t len;
  if (!get_bytes(env, argv[1], &data, &len)) return NULL;
  if (f->fd < 0) return num(env, -EBADF);
  ssize_t n;
  do {
    n = send(f->fd, data, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return num(env, n < 0 ? -errno : n);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)status;
  (void)events;
  vu_fd *f = h->data;
  if (f == NULL || f->cb == NULL) return;
  napi_env env = f->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, global, result;
  if (napi_get_reference_value(env, f->cb, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &global) == napi_ok) {
    /* make_callback runs the microtasks the callback queued, as Node's own I/O callbacks do. */
    napi_status st = napi_make_callback(env, NULL, global, cb, 0, NULL, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

/* vhostWatch(handle, cb): errno — calls cb() whenever the fd is readable (or hung up). */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  if (f->fd < 0) return num(env, EBADF);
  fd_unwatch(f);
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  uv_poll_t *p = calloc(1, sizeof *p);
  if (p == NULL) return num(env, ENOMEM);
  if (uv_poll_init(loop, p, f->fd) != 0) {
    free(p);
    return num(env, EINVAL);
  }
  p->data = f;
  CHECK(env, napi_create_reference(env, argv[1], 1, &f->cb));
  f->poll = p;
  if (uv_poll_start(p, UV_READABLE | UV_DISCONNECT, on_poll) != 0) {
    fd_unwatch(f);
    return num(env, EINVAL);
  }
  return num(env, 0);
}

/* vhostClose(handle): stops watching and closes the fd; idempotent. */
static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  fd_close(f);
  return NULL;
}

/* vhostEventRead(handle): count | -errno — reads an eventfd (EAGAIN when nothing is pending). */
static napi_value js_event_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  if (f->fd < 0) return num(env, -EBADF);
  uint64_t v = 0;
  ssize_t n;
  do {
    n = read(f->fd, &v, sizeof v);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return num(env, -errno);
  return num(env, n == sizeof v ? (int64_t)(v > INT32_MAX ? INT32_MAX : v) : -EIO);
}

/* vhostEventWrite(handle): 0 | -errno — adds 1 to an eventfd (the guest's interrupt). */
static napi_value js_event_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  if (f->fd < 0) return num(env, -EBADF);
  uint64_t v = 1;
  ssize_t n;
  do {
    n = write(f->fd, &v, sizeof v);
  } while (n < 0 && errno == EINTR);
  return num(env, n < 0 ? -errno : 0);
}

static void map_unref(vu_map *m) {
  if (--m->refs == 0) free(m);
}

static void map_unmap(vu_map *m) {
  if (m->base != NULL) munmap(m->base, m->len);
  m->base = NULL;
}

/* Finaliser of the ArrayBuffer: the memory goes with its last view. */
static void ab_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  vu_map *m = hint;
  map_unmap(m);
  map_unref(m);
}

static void map_handle_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  vu_map *m = data;
  if (m->ab != NULL) {
    napi_delete_reference(env, m->ab);
    m->ab = NULL;
  }
  map_unref(m);
}

/*
 * vhostMmap(fd, size, offset): [handle, ArrayBuffer] — maps offset + size bytes of a region fd
 * from 0 (shared, read/write) and gives the size bytes at offset as an ArrayBuffer. The fd
 * handle may be closed afterwards. Throws SyscallError (EINVAL for sizes past the file, …).
 */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  vu_fd *f = fd_get(env, argv[0]);
  if (f == NULL) return NULL;
  double size_d, off_d;
  if (napi_get_value_double(env, argv[1], &size_d) != napi_ok ||
      napi_get_value_double(env, argv[2], &off_d) != napi_ok) {
    napi_throw_type_error(env, NULL, "size and offset must be numbers");
    return NULL;
  }
  if (f->fd < 0) return throw_errno(env, EBADF, "mmap", NULL);
  if (!(size_d > 0) || !(off_d >= 0) || size_d + off_d > 9007199254740991.0 ||
      size_d > (double)(1ULL << 40))
    return throw_errno(env, EINVAL, "mmap", "region size or offset out of range");
  size_t size = (size_t)size_d, off = (size_t)off_d;
  struct stat st;
  if (fstat(f->fd, &st) < 0) return throw_errno(env, errno, "fstat", NULL);
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < (uint64_t)off + size)
    return throw_errno(env, EINVAL, "mmap", "region past the end of its file");
  void *base = mmap(NULL, off + size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
  if (base == MAP_FAILED) return throw_errno(env, errno, "mmap", NULL);
  vu_map *m = calloc(1, sizeof *m);
  if (m == NULL) {
    munmap(base, off + size);
    return throw_errno(env, ENOMEM, "calloc", NULL);
  }
  m->base = base;
  m->len = off + size;
  m->refs = 1;
  napi_value ab, handle;
  if (napi_create_external_arraybuffer(env, (uint8_t *)base + off, size, ab_finalize, m, &ab) !=
      napi_ok) {
    munmap(base, off + size);
    free(m);
    throw_napi(env);
    return NULL;
  }
  m->refs++; /* the ArrayBuffer's */
  if (napi_create_reference(env, ab, 0, &m->ab) != napi_ok ||
      napi_create_external(env, m, map_handle_finalize, NULL, &handle) != napi_ok) {
    /* The ArrayBuffer's finaliser unmaps; drop the handle's share. */
    map_unref(m);
    throw_napi(env);
    return NULL;
  }
  CHECK(env, napi_type_tag_object(env, handle, &VU_MAP_TAG));
  return pair(env, handle, ab);
}

/* vhostUnmap(handle): detaches the ArrayBuffer (views read as empty) and unmaps; idempotent. */
static napi_value js_unmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool ok = false;
  void *p = NULL;
  if (napi_check_object_type_tag(env, argv[0], &VU_MAP_TAG, &ok) != napi_ok || !ok ||
      napi_get_value_external(env, argv[0], &p) != napi_ok) {
    napi_throw_type_error(env, NULL, "not a bindery vhost-user mapping handle");
    return NULL;
  }
  vu_map *m = p;
  if (m->ab != NULL) {
    napi_value ab;
    if (napi_get_reference_value(env, m->ab, &ab) == napi_ok && ab != NULL) {
      bool detached = false;
      napi_is_detached_arraybuffer(env, ab, &detached);
      if (!detached) CHECK(env, napi_detach_arraybuffer(env, ab));
    }
  }
  map_unmap(m);
  return NULL;
}

bool bdy_vhost_exports(napi_env env, napi_value exports) {
  static const bdy_export fns[] = {
      {"vhostListen", js_listen},       {"vhostAccept", js_accept},
      {"vhostRecv", js_recv},           {"vhostSend", js_send},
      {"vhostWatch", js_watch},         {"vhostClose", js_close_fd},
      {"vhostEventRead", js_event_read}, {"vhostEventWrite", js_event_write},
      {"vhostMmap", js_mmap},           {"vhostUnmap", js_unmap},
  };
  return DEFINE_EXPORTS(env, exports, fns);
}
