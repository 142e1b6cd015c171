/* bindery_native: the N-API shim for the few syscalls Node lacks (see docs/architecture.md). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "bindery.h"
#include "glue.h"

/* Bumped whenever the exports below change shape; src/native/index.ts checks it. */
#define BDY_ABI 15
/* Most frames/datagrams handed to JS per readable event (the rest waits for the next loop turn). */
#define BATCH_MAX 64
/* Room reserved per read: largest tap frame (MTU 65535 + Ethernet/VLAN header) or UDP payload. */
#define MAX_FRAME (65536 + 64)
/* Per-endpoint read area: 64 frames of MTU 1500 fit; with jumbo MTUs a batch holds fewer. */
#define SCRATCH_SIZE (256 * 1024)
/* A tap's reused receive buffer: the batch's lengths, then its frames (16 jumbo frames fit). */
#define RX_META (8 * BATCH_MAX)
#define RX_REUSE_SIZE (RX_META + 16 * MAX_FRAME)

/* Per-environment state: the JS error class that native errors are built with. */
typedef struct {
  napi_ref error_ctor;
  uint32_t fail_batches; /* test hook (failBatches): batch buffers to treat as not creatable */
} bdy_instance;

/*
 * A receive area the C side writes into and JS reads through an external ArrayBuffer: the memory
 * is ours (malloc), not a JS-allocated buffer, and lives until both the endpoint and the
 * ArrayBuffer have let go of it (refs counts the two; both only ever touched on the JS thread).
 * If JS detaches the ArrayBuffer (transfers it away), the endpoint notices before the next read
 * and switches to a fresh block; the old one stays valid for whoever holds it now.
 */
typedef struct {
  int refs;
  size_t size;
  uint8_t *data;
} rx_block;

/* What an endpoint reads: tap frames (read), datagrams with their source (recvfrom), the ready
 * list of an epoll set of TCP sockets (epoll_wait), or the frames of a packet socket (recvfrom,
 * delivered like tap frames, the kernel's own outgoing frames skipped). */
typedef enum { EP_TAP, EP_DGRAM, EP_EPOLL, EP_PACKET } ep_kind;

/* Per-frame flag of a packet socket batch (in the "source port" slot): the frame's TCP/UDP
 * checksum is partial (TP_STATUS_CSUMNOTREADY: sent by this host with checksum offload, e.g. by
 * a guest through a tap or a veth); the reader must not verify it as is. */
#define BDY_PKT_CSUM_PARTIAL 1u

/* One open tap or socket, owned by a JS external; freed once both it and its uv handle are gone. */
typedef struct {
  napi_env env;
  ep_kind kind;
  int family;     /* datagram sockets: AF_INET or AF_INET6 */
  int fd;         /* -1 once closed */
  bool vnet;      /* tap frames carry a virtio_net_hdr (offloads on) */
  bool closed;    /* close() or the env cleanup hook ran */
  bool poll_live; /* uv_poll initialised and its close callback has not run yet */
  bool finalized; /* the JS external was collected (or the env torn down) */
  /* Env teardown waits for this hook until the poll handle's close callback has run, so that
   * callback (code in this addon) never runs after the addon is unloaded (worker exit). */
  napi_async_cleanup_hook_handle cleanup;
  uv_poll_t poll;
  napi_ref on_data;  /* (batch: ArrayBuffer, count: number, addrs?: string[]) => void */
  napi_ref on_error; /* (error) => void */
  napi_async_context actx;
  uint8_t *scratch; /* SCRATCH_SIZE bytes, allocated when polling starts */
  /* Taps opened with reuseRx, and epoll sets: one C-owned block read into directly and handed to
   * every callback (valid only during the call), instead of a fresh copy per batch. */
  bool rx_reuse;
  napi_ref rx_ref; /* the external ArrayBuffer over rx */
  rx_block *rx;
  /* A batch read into scratch but not handed over yet (its ArrayBuffer could not be made): it
   * is delivered before anything more is read; `retrying` polls for writable too so that the
   * next attempt comes at the next loop turn even if nothing more arrives. */
  uint32_t pend_n;
  size_t pend_off;
  int pend_err;
  bool retrying;
  uint32_t lens[BATCH_MAX];
  uint32_t pkt_flags[BATCH_MAX]; /* packet sockets: BDY_PKT_* per frame */
  struct sockaddr_storage from[BATCH_MAX];
} endpoint;

/* Tags our externals so a foreign external passed in by mistake is rejected, not dereferenced. */
static const napi_type_tag ENDPOINT_TAG = {0x62696e6465727931ULL, 0x656e64706f696e74ULL};

/* ---------- errors ---------- */

/* Throws an Error describing the last failed napi call, unless an exception is already pending. */
void throw_napi(napi_env env) {
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  const char *msg = info != NULL && info->error_message != NULL ? info->error_message : "napi call failed";
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, msg);
}


/* Writes the symbolic errno name ("ENOENT"): libuv's name as Node uses it, else glibc's. */
static void errno_name(int err, char *buf, size_t n) {
  uv_err_name_r(-err, buf, n);
  if (strncmp(buf, "Unknown", 7) != 0) return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *name = strerrorname_np(err);
  if (name != NULL) {
    snprintf(buf, n, "%s", name);
    return;
  }
#endif
  snprintf(buf, n, "E%d", err);
}

/*
 * Builds the JS error for a failed system call: an instance of the class registered with
 * setErrorClass (message, errno name, syscall), or a plain Error with code/errno/syscall set.
 */
napi_value make_error(napi_env env, int err, const char *syscall, const char *detail) {
  char name[64], text[128], msg[STR_MAX + 256];
  errno_name(err, name, sizeof name);
  const char *desc = strerror_r(err, text, sizeof text);
  snprintf(msg, sizeof msg, "%s%s%s: %s (%s)", syscall, detail[0] != '\0' ? " " : "", detail, name,
           desc);
  napi_value vmsg, vname, vsys, error = NULL;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &vmsg);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &vname);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &vsys);

  bdy_instance *inst = NULL;
  napi_value ctor = NULL;
  if (napi_get_instance_data(env, (void **)&inst) == napi_ok && inst != NULL && inst->error_ctor != NULL)
    napi_get_reference_value(env, inst->error_ctor, &ctor);
  if (ctor != NULL) {
    napi_value argv[3] = {vmsg, vname, vsys};
    if (napi_new_instance(env, ctor, 3, argv, &error) == napi_ok) return error;
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  napi_value vcode;
  napi_create_string_utf8(env, "BINDERY_ERR_SYSCALL", NAPI_AUTO_LENGTH, &vcode);
  napi_create_error(env, vcode, vmsg, &error);
  napi_set_named_property(env, error, "errno", vname);
  napi_set_named_property(env, error, "syscall", vsys);
  return error;
}

/* Throws the error recorded in `st`; returns NULL for the caller to return. */
napi_value throw_status(napi_env env, const bdy_status *st) {
  napi_throw(env, make_error(env, st->err, st->syscall, st->detail));
  return NULL;
}

/* Throws the error for errno `err` from `syscall`; returns NULL. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *detail) {
  napi_throw(env, make_error(env, err, syscall, detail != NULL ? detail : ""));
  return NULL;
}

/* ---------- argument helpers ---------- */

/* Reads argument `v` as a string into buf (size STR_MAX); null/undefined gives "" if optional. */
bool get_string(napi_env env, napi_value v, char *buf, bool optional, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (optional && (t == napi_undefined || t == napi_null)) {
    buf[0] = '\0';
    return true;
  }
  size_t len = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  if (len >= STR_MAX) {
    throw_errno(env, ENAMETOOLONG, "argument", what);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, STR_MAX, &len);
  return true;
}

/* Reads argument `v` as an int32. */
bool get_int(napi_env env, napi_value v, int *out, const char *what) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  return true;
}

/* Returns the bytes of a Uint8Array (or Buffer) argument, or false after throwing a TypeError. */
bool get_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      (type != napi_uint8_array && type != napi_uint8_clamped_array)) {
    napi_throw_type_error(env, NULL, "expected a Uint8Array");
    return false;
  }
  *data = p; /* already adjusted by the view's byte offset */
  return true;
}

/* ---------- endpoint lifecycle ---------- */

/* Frees the endpoint once neither the JS external nor the uv handle refers to it. */
static void ep_maybe_free(endpoint *ep) {
  if (!ep->finalized || ep->poll_live) return;
  free(ep->scratch);
  free(ep);
}

/* Unregisters the env cleanup hook (which also tells a waiting env teardown we are done). */
static void ep_release_hook(endpoint *ep) {
  if (ep->cleanup == NULL) return;
  napi_remove_async_cleanup_hook(ep->cleanup);
  ep->cleanup = NULL;
}

/* uv close callback of the poll handle: the last moment the endpoint is needed by libuv. */
static void on_poll_closed(uv_handle_t *h) {
  endpoint *ep = h->data;
  ep->poll_live = false;
  ep_release_hook(ep);
  ep_maybe_free(ep);
}

/* Stops polling and closes the fd; no JS involved, so it is safe from the env cleanup hook. */
static void ep_shutdown(endpoint *ep) {
  if (ep->closed) return;
  ep->closed = true;
  if (ep->poll_live && !uv_is_closing((uv_handle_t *)&ep->poll)) {
    uv_poll_stop(&ep->poll); /* removes the fd from epoll, so closing it next is safe */
    uv_close((uv_handle_t *)&ep->poll, on_poll_closed);
  }
  if (ep->fd >= 0) {
    close(ep->fd);
    ep->fd = -1;
  }
}

/* Closes the endpoint; the hook goes now, or from on_poll_closed if a uv close is pending. */
static void ep_close_native(endpoint *ep) {
  ep_shutdown(ep);
  if (!ep->poll_live) ep_release_hook(ep);
}

/* Async env cleanup hook (process exit, worker exit): closes what is still open. */
static void ep_cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  ep_close_native(arg);
}

/* Drops one holder of a receive block; the last one frees it. */
static void rx_unref(rx_block *b) {
  if (--b->refs > 0) return;
  free(b->data);
  free(b);
}

/* Finaliser of a receive block's external ArrayBuffer. */
static void rx_ab_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  rx_unref(hint);
}

/* Lets go of the endpoint's receive block and its ArrayBuffer (which may live on in JS). */
static void rx_detach(napi_env env, endpoint *ep) {
  if (ep->rx_ref != NULL) napi_delete_reference(env, ep->rx_ref);
  ep->rx_ref = NULL;
  if (ep->rx != NULL) rx_unref(ep->rx);
  ep->rx = NULL;
}

/* Gives the endpoint a fresh C-owned receive block of `size` bytes behind an external
 * ArrayBuffer; false (nothing thrown, nothing leaked) if either cannot be made. */
static bool rx_attach(napi_env env, endpoint *ep, size_t size) {
  rx_detach(env, ep);
  rx_block *b = malloc(sizeof *b);
  uint8_t *data = malloc(size);
  if (b == NULL || data == NULL) {
    free(b);
    free(data);
    return false;
  }
  b->refs = 1; /* the ArrayBuffer's, once it exists */
  b->size = size;
  b->data = data;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, data, size, rx_ab_finalize, b, &ab) != napi_ok) {
    free(data);
    free(b);
    return false;
  }
  /* The ArrayBuffer now owns one reference (its finaliser drops it); the endpoint takes another. */
  if (napi_create_reference(env, ab, 1, &ep->rx_ref) != napi_ok) {
    ep->rx_ref = NULL;
    return false; /* the ArrayBuffer is garbage; its finaliser frees the block */
  }
  b->refs++;
  ep->rx = b;
  return true;
}

/* The endpoint's receive ArrayBuffer, replaced by a fresh block first if JS detached it; false
 * (after clearing any exception) when there is none to be had: then nothing must be read. */
static bool rx_current(endpoint *ep, size_t size, napi_value *ab) {
  napi_env env = ep->env;
  bool detached = true;
  if (ep->rx_ref != NULL && napi_get_reference_value(env, ep->rx_ref, ab) == napi_ok && *ab != NULL &&
      napi_is_detached_arraybuffer(env, *ab, &detached) == napi_ok && !detached)
    return true;
  if (rx_attach(env, ep, size) && napi_get_reference_value(env, ep->rx_ref, ab) == napi_ok &&
      *ab != NULL)
    return true;
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    napi_get_and_clear_last_exception(env, &exc);
  return false;
}

/* Drops the references to the JS callbacks so they can be collected. */
static void ep_drop_callbacks(napi_env env, endpoint *ep) {
  if (ep->on_data != NULL) napi_delete_reference(env, ep->on_data);
  if (ep->on_error != NULL) napi_delete_reference(env, ep->on_error);
  ep->on_data = ep->on_error = NULL;
  rx_detach(env, ep);
}

/*
 * Finalizer of the JS external. A polling endpoint is kept alive by its callbacks (which hold the
 * JS wrapper), so this runs for open endpoints only at env teardown, where async hooks are no
 * longer emitted; the async context is destroyed by close() otherwise.
 */
static void ep_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  endpoint *ep = data;
  ep_close_native(ep);
  ep_drop_callbacks(env, ep);
  ep->finalized = true;
  ep_maybe_free(ep);
}

/* Wraps a freshly opened fd in a tagged external; closes the fd if that fails. */
static napi_value ep_new(napi_env env, ep_kind kind, int family, int fd) {
  endpoint *ep = calloc(1, sizeof *ep);
  if (ep == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "calloc", NULL);
  }
  ep->env = env;
  ep->kind = kind;
  ep->family = family;
  ep->fd = fd;
  napi_value ext;
  if (napi_create_external(env, ep, ep_finalize, NULL, &ext) != napi_ok) {
    close(fd);
    free(ep);
    throw_napi(env);
    return NULL;
  }
  napi_type_tag_object(env, ext, &ENDPOINT_TAG);
  if (napi_add_async_cleanup_hook(env, ep_cleanup_hook, ep, &ep->cleanup) != napi_ok)
    ep->cleanup = NULL;
  return ext;
}

/* Returns the endpoint behind a handle argument, or NULL after throwing. */
static endpoint *ep_get(napi_env env, napi_value v) {
  return tagged_get(env, v, &ENDPOINT_TAG, "not a bindery native handle");
}

/* Returns [handle, extra] as a JS array. */
napi_value pair(napi_env env, napi_value a, napi_value b) {
  napi_value arr;
  CHECK(env, napi_create_array_with_length(env, 2, &arr));
  CHECK(env, napi_set_element(env, arr, 0, a));
  CHECK(env, napi_set_element(env, arr, 1, b));
  return arr;
}

/* ---------- reading: batches to JS ---------- */

/* Calls a JS callback from the event loop; an exception it throws becomes an uncaught exception. */
static void call_js(endpoint *ep, napi_ref ref, size_t argc, napi_value *argv) {
  napi_env env = ep->env;
  napi_value cb = NULL, recv, result;
  if (ref == NULL || napi_get_reference_value(env, ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  if (napi_make_callback(env, ep->actx, recv, cb, argc, argv, &result) != napi_ok) {
    bool pending = false;
    napi_value exc;
    napi_is_exception_pending(env, &pending);
    if (pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok)
      napi_fatal_exception(env, exc);
  }
}

/* Hands an asynchronous error to the onError callback (dropped if there is none). */
static void emit_error(endpoint *ep, int err, const char *syscall) {
  if (ep->on_error == NULL) return;
  napi_value e = make_error(ep->env, err, syscall, "");
  call_js(ep, ep->on_error, 1, &e);
}

/* Formats a received source address ("10.0.0.1", "fe80::1%2") and returns its port. */
static int format_addr(const struct sockaddr_storage *ss, char *buf, size_t n) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)n);
    if (s6->sin6_scope_id != 0) {
      size_t l = strlen(buf);
      snprintf(buf + l, n - l, "%%%u", (unsigned)s6->sin6_scope_id);
    }
    return ntohs(s6->sin6_port);
  }
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
  inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)n);
  return ntohs(s4->sin_port);
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Clears a pending JS exception left by a failed napi call, so the next calls can work. */
static void clear_exception(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
    napi_get_and_clear_last_exception(env, &exc);
}

/* The failBatches test hook: true when this batch buffer is to count as not creatable. */
static bool injected_failure(napi_env env) {
  bdy_instance *inst = NULL;
  if (napi_get_instance_data(env, (void **)&inst) != napi_ok || inst == NULL ||
      inst->fail_batches == 0)
    return false;
  inst->fail_batches--;
  return true;
}

/* Switches between polling for readable only and, while a batch waits, readable or writable. */
static void set_retrying(endpoint *ep, bool on) {
  if (ep->retrying == on || ep->closed || !ep->poll_live) return;
  ep->retrying = on;
  uv_poll_start(&ep->poll, on ? UV_READABLE | UV_WRITABLE : UV_READABLE, on_poll);
}

/*
 * Hands the batch waiting in scratch to JS: onData(batch, count, addrs). False when its
 * ArrayBuffer (or the address list) cannot be made; the batch then stays in scratch, intact.
 */
static bool deliver_batch(endpoint *ep) {
  napi_env env = ep->env;
  uint32_t n = ep->pend_n;
  size_t head = 8 * (size_t)n, off = ep->pend_off;
  void *data = NULL;
  napi_value argv[3];
  if (injected_failure(env) || napi_create_arraybuffer(env, head + off, &data, &argv[0]) != napi_ok ||
      napi_create_uint32(env, n, &argv[1]) != napi_ok || napi_get_undefined(env, &argv[2]) != napi_ok)
    goto fail;
  uint32_t *meta = data;
  for (uint32_t i = 0; i < n; i++) {
    meta[2 * i] = ep->lens[i];
    meta[2 * i + 1] = ep->kind == EP_PACKET ? ep->pkt_flags[i] : 0;
  }
  if (ep->kind == EP_DGRAM) {
    if (napi_create_array_with_length(env, n, &argv[2]) != napi_ok) goto fail;
    for (uint32_t i = 0; i < n; i++) {
      char addr[INET6_ADDRSTRLEN + 16];
      meta[2 * i + 1] = (uint32_t)format_addr(&ep->from[i], addr, sizeof addr);
      napi_value v;
      if (napi_create_string_latin1(env, addr, NAPI_AUTO_LENGTH, &v) != napi_ok ||
          napi_set_element(env, argv[2], i, v) != napi_ok)
        goto fail;
    }
  }
  memcpy((uint8_t *)data + head, ep->scratch, off);
  ep->pend_n = 0;
  ep->pend_off = 0;
  call_js(ep, ep->on_data, 3, argv);
  return true;
fail:
  clear_exception(env);
  return false;
}

/*
 * Reads up to BATCH_MAX frames/datagrams until EAGAIN (datagrams: until recvmmsg leaves slots
 * empty, read_dgrams) and hands them to JS in one call:
 * onData(batch, count, addrs). `batch` is one fresh ArrayBuffer: `count` pairs of u32 (length,
 * source port) in host order, then the payloads back to back; `addrs` (datagram sockets only)
 * holds the source address of each. One allocation and one JS call per batch, whatever its size.
 * A batch whose ArrayBuffer cannot be made is kept, not dropped: nothing more is read until a
 * later loop turn has handed it over (see set_retrying).
 */
static void read_batch_reused(endpoint *ep);

/*
 * Datagram sockets: recvmmsg takes every queued datagram in one call (as many as scratch has
 * MAX_FRAME slots for), so a lone datagram — an echo reply — costs one syscall instead of a
 * second recvfrom that meets EAGAIN; a call that fills every slot is followed by another. The
 * datagrams are packed back to back after each call, as the recvfrom loop left them. An error
 * after some datagrams stays pending on the socket for the next wake-up (recvmmsg(2)).
 */
static int read_dgrams(endpoint *ep, size_t *offp, uint32_t *np) {
  size_t off = *offp;
  uint32_t n = *np;
  int err = 0;
  struct mmsghdr mm[BATCH_MAX];
  struct iovec iov[BATCH_MAX];
  for (;;) {
    uint32_t room = (uint32_t)((SCRATCH_SIZE - off) / MAX_FRAME);
    if (room > BATCH_MAX - n) room = BATCH_MAX - n;
    if (room == 0) break;
    for (uint32_t i = 0; i < room; i++) {
      iov[i].iov_base = ep->scratch + off + (size_t)i * MAX_FRAME;
      iov[i].iov_len = MAX_FRAME;
      memset(&mm[i], 0, sizeof mm[i]);
      mm[i].msg_hdr.msg_name = &ep->from[n + i];
      mm[i].msg_hdr.msg_namelen = sizeof ep->from[n + i];
      mm[i].msg_hdr.msg_iov = &iov[i];
      mm[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(ep->fd, mm, room, MSG_DONTWAIT, NULL);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    size_t base = off;
    for (int i = 0; i < got; i++) {
      size_t len = mm[i].msg_len;
      uint8_t *slot = ep->scratch + base + (size_t)i * MAX_FRAME;
      if (slot != ep->scratch + off) memmove(ep->scratch + off, slot, len);
      ep->lens[n++] = (uint32_t)len;
      off += len;
    }
    if ((uint32_t)got < room) break; /* the queue is drained */
  }
  *offp = off;
  *np = n;
  return err;
}

static void read_batch(endpoint *ep) {
  if (ep->rx_reuse) {
    read_batch_reused(ep);
    return;
  }
  if (ep->pend_n == 0) {
    size_t off = 0;
    uint32_t n = 0;
    int err = 0;
    if (ep->kind == EP_DGRAM) err = read_dgrams(ep, &off, &n);
    while (ep->kind != EP_DGRAM && n < BATCH_MAX && off + MAX_FRAME <= SCRATCH_SIZE) {
      ssize_t r;
      if (ep->kind == EP_TAP) {
        r = read(ep->fd, ep->scratch + off, MAX_FRAME);
      } else {
        struct sockaddr_ll sll;
        union {
          struct cmsghdr h;
          uint8_t buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
        } ctl;
        struct iovec iov = {ep->scratch + off, MAX_FRAME};
        struct msghdr msg = {.msg_name = &sll, .msg_namelen = sizeof sll, .msg_iov = &iov,
                             .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
        r = recvmsg(ep->fd, &msg, 0);
        /* Frames this host sends on the device (our own replies included) are looped back to
         * packet sockets as PACKET_OUTGOING: they are not requests. */
        if (r >= 0 && sll.sll_pkttype == PACKET_OUTGOING) continue;
        ep->pkt_flags[n] = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); r >= 0 && c != NULL; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
          struct tpacket_auxdata aux;
          memcpy(&aux, CMSG_DATA(c), sizeof aux);
          if (aux.tp_status & TP_STATUS_CSUMNOTREADY) ep->pkt_flags[n] |= BDY_PKT_CSUM_PARTIAL;
        }
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      ep->lens[n] = (uint32_t)r;
      off += (size_t)r;
      n++;
    }
    ep->pend_n = n;
    ep->pend_off = off;
    ep->pend_err = err;
  }
  if (ep->pend_n > 0 && !deliver_batch(ep)) {
    set_retrying(ep, true);
    return;
  }
  set_retrying(ep, false);
  int err = ep->pend_err;
  ep->pend_err = 0;
  if (err != 0 && !ep->closed) {
    /* A tap read error (device gone: EBADFD/EIO) persists: stop polling instead of spinning.
     * Socket errors (ICMP-reported ECONNREFUSED etc.) are consumed by the read: keep going. */
    if (ep->kind == EP_TAP && ep->poll_live) uv_poll_stop(&ep->poll);
    emit_error(ep, err, ep->kind == EP_TAP ? "read" : "recvfrom");
  }
}

/*
 * The reused-buffer form of read_batch for taps: frames are read straight into the endpoint's
 * C-owned block (no copy), lengths in its first RX_META bytes, frames from RX_META on, each
 * 8-aligned; onData(buffer, count) gets the same ArrayBuffer every time. The ArrayBuffer is
 * fetched (or remade) before reading, so nothing is read that could not be handed over.
 */
static void read_batch_reused(endpoint *ep) {
  napi_env env = ep->env;
  napi_value argv[3];
  if (!rx_current(ep, RX_REUSE_SIZE, &argv[0])) {
    set_retrying(ep, true);
    return;
  }
  set_retrying(ep, false);
  uint8_t *rx = ep->rx->data;
  uint32_t *meta = (uint32_t *)rx;
  size_t off = RX_META;
  uint32_t n = 0;
  int err = 0;
  while (n < BATCH_MAX && off + MAX_FRAME <= RX_REUSE_SIZE) {
    ssize_t r = read(ep->fd, rx + off, MAX_FRAME);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    meta[2 * n] = (uint32_t)r;
    meta[2 * n + 1] = (uint32_t)(off - RX_META);
    off = (off + (size_t)r + 7) & ~(size_t)7;
    n++;
  }
  if (n > 0) {
    napi_create_uint32(env, n, &argv[1]);
    napi_get_undefined(env, &argv[2]);
    call_js(ep, ep->on_data, 3, argv);
  }
  if (err != 0 && !ep->closed) {
    if (ep->poll_live) uv_poll_stop(&ep->poll);
    emit_error(ep, err, "read");
  }
}

/* Most readiness events taken from an epoll set per loop turn. */
#define EPOLL_BATCH 256

/* Our event bits (stable across architectures; src/native/index.ts names them). */
#define BDY_EV_IN 1u
#define BDY_EV_OUT 2u
#define BDY_EV_RDHUP 4u
#define BDY_EV_HUP 16u
#define BDY_EV_ERR 32u

/*
 * Takes the epoll set's ready list (no waiting: the set's fd polled readable) and hands it to JS
 * in one call: onData(batch, count) with `count` pairs of u32 (id, events) in host order, in the
 * endpoint's C-owned block. The block's ArrayBuffer is fetched first: if it cannot be had, the
 * events stay in the kernel (edge-triggered ones included) for the next loop turn.
 */
static void read_epoll(endpoint *ep) {
  napi_value argv[3];
  if (!rx_current(ep, 8 * EPOLL_BATCH, &argv[0])) return; /* the set stays readable: retried */
  struct epoll_event evs[EPOLL_BATCH];
  int n;
  do {
    n = epoll_wait(ep->fd, evs, EPOLL_BATCH, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    emit_error(ep, errno, "epoll_wait");
    return;
  }
  if (n == 0) return;
  uint32_t *out = (uint32_t *)ep->rx->data;
  for (int i = 0; i < n; i++) {
    uint32_t e = evs[i].events, m = 0;
    if (e & EPOLLIN) m |= BDY_EV_IN;
    if (e & EPOLLOUT) m |= BDY_EV_OUT;
    if (e & EPOLLRDHUP) m |= BDY_EV_RDHUP;
    if (e & EPOLLHUP) m |= BDY_EV_HUP;
    if (e & EPOLLERR) m |= BDY_EV_ERR;
    out[2 * i] = (uint32_t)evs[i].data.u64;
    out[2 * i + 1] = m;
  }
  napi_create_uint32(ep->env, (uint32_t)n, &argv[1]);
  napi_get_undefined(ep->env, &argv[2]);
  call_js(ep, ep->on_data, 3, argv);
}

/* uv_poll callback: the fd is readable (or, while a batch waits, writable; or polling failed). */
static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  endpoint *ep = h->data;
  if (ep->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(ep->env, &scope) != napi_ok) return;
  if (status < 0) {
    uv_poll_stop(&ep->poll);
    emit_error(ep, -status, "poll");
  } else if (ep->kind == EP_EPOLL) {
    read_epoll(ep);
  } else {
    read_batch(ep);
  }
  napi_close_handle_scope(ep->env, scope);
}

/* ---------- exports ---------- */

/* abiVersion(): number — the shape of these exports (BDY_ABI). */
static napi_value js_abi_version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  CHECK(env, napi_create_uint32(env, BDY_ABI, &v));
  return v;
}

/* setErrorClass(ctor): errors are built as `new ctor(message, errnoName, syscall)`. */
static napi_value js_set_error_class(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bdy_instance *inst = NULL;
  CHECK(env, napi_get_instance_data(env, (void **)&inst));
  if (inst->error_ctor != NULL) napi_delete_reference(env, inst->error_ctor);
  inst->error_ctor = NULL;
  CHECK(env, napi_create_reference(env, argv[0], 1, &inst->error_ctor));
  return NULL;
}

/*
 * tapOpen(netns, name, mtu, up, offload, reuseRx): [handle, actualName] — a tap device inside
 * `netns`. With `offload`, frames read start with a 10-byte virtio_net_hdr and tapSend adds one;
 * with `reuseRx`, batches arrive in one reused buffer (see read_batch_reused).
 */
static napi_value js_tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char netns[STR_MAX], name[STR_MAX];
  int mtu;
  bool up;
  if (!get_string(env, argv[0], netns, true, "netns must be a string") ||
      !get_string(env, argv[1], name, false, "name must be a string") ||
      !get_int(env, argv[2], &mtu, "mtu must be a number"))
    return NULL;
  CHECK(env, napi_get_value_bool(env, argv[3], &up));
  bool offload = false, reuse = false, mq = false;
  if (argc >= 5) CHECK(env, napi_get_value_bool(env, argv[4], &offload));
  if (argc >= 6) CHECK(env, napi_get_value_bool(env, argv[5], &reuse));
  if (argc >= 7) CHECK(env, napi_get_value_bool(env, argv[6], &mq));

  bdy_tap_req req = {
      .name = name, .mtu = mtu, .up = up, .offload = offload, .multi_queue = mq, .fd = -1};
  bdy_status st = {0};
  if (bdy_run_in_netns(netns, bdy_tap_open, &req, &st) < 0) return throw_status(env, &st);
  napi_value h = ep_new(env, EP_TAP, AF_UNSPEC, req.fd);
  if (h == NULL) return NULL;
  endpoint *ep = ep_get(env, h);
  if (ep == NULL) return NULL;
  ep->vnet = offload;
  ep->rx_reuse = reuse;
  napi_value vname;
  CHECK(env, napi_create_string_utf8(env, req.out_name, NAPI_AUTO_LENGTH, &vname));
  return pair(env, h, vname);
}

/* pingOpen(family 4|6, ident, localAddr|null, netns|null): [handle, boundIdent]. */
static napi_value js_ping_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, ident;
  char local[STR_MAX], netns[STR_MAX];
  if (!get_int(env, argv[0], &family, "family must be 4 or 6") ||
      !get_int(env, argv[1], &ident, "ident must be a number") ||
      !get_string(env, argv[2], local, true, "localAddr must be a string") ||
      !get_string(env, argv[3], netns, true, "netns must be a string"))
    return NULL;
  bdy_ping_req req = {
      .family = family == 6 ? AF_INET6 : AF_INET,
      .ident = ident,
      .local = local[0] != '\0' ? local : NULL,
      .fd = -1,
  };
  bdy_status st = {0};
  if (bdy_run_in_netns(netns, bdy_ping_open, &req, &st) < 0) return throw_status(env, &st);
  napi_value h = ep_new(env, EP_DGRAM, req.family, req.fd);
  if (h == NULL) return NULL;
  napi_value vport;
  CHECK(env, napi_create_uint32(env, (uint32_t)req.port, &vport));
  return pair(env, h, vport);
}

/* udpOpen(device, addr, port, netns|null): [handle, boundPort] — device-bound broadcast UDP. */
static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char device[STR_MAX], addr[STR_MAX], netns[STR_MAX];
  int port;
  if (!get_string(env, argv[0], device, false, "device must be a string") ||
      !get_string(env, argv[1], addr, false, "addr must be a string") ||
      !get_int(env, argv[2], &port, "port must be a number") ||
      !get_string(env, argv[3], netns, true, "netns must be a string"))
    return NULL;
  bdy_udp_req req = {
      .device = device,
      .addr = addr,
      .family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET,
      .port = port,
      .fd = -1,
  };
  bdy_status st = {0};
  if (bdy_run_in_netns(netns, bdy_udp_open, &req, &st) < 0) return throw_status(env, &st);
  napi_value h = ep_new(env, EP_DGRAM, req.family, req.fd);
  if (h == NULL) return NULL;
  napi_value vport;
  CHECK(env, napi_create_uint32(env, (uint32_t)req.bound_port, &vport));
  return pair(env, h, vport);
}

/*
 * packetOpen(device, netns|null): [handle, ifindex] — an AF_PACKET socket on `device` that passes
 * only DHCPv4/DHCPv6 requests and router solicitations (native/open.c); frames arrive like a
 * tap's and tapSend writes whole frames to it.
 */
static napi_value js_packet_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char device[STR_MAX], netns[STR_MAX];
  if (!get_string(env, argv[0], device, false, "device must be a string") ||
      !get_string(env, argv[1], netns, true, "netns must be a string"))
    return NULL;
  bdy_packet_req req = {.device = device, .fd = -1};
  bdy_status st = {0};
  if (bdy_run_in_netns(netns, bdy_packet_open, &req, &st) < 0) return throw_status(env, &st);
  napi_value h = ep_new(env, EP_PACKET, AF_PACKET, req.fd);
  if (h == NULL) return NULL;
  napi_value vidx;
  CHECK(env, napi_create_uint32(env, (uint32_t)req.ifindex, &vidx));
  return pair(env, h, vidx);
}

/* start(handle, onData, onError): begins polling the fd on the event loop (replaces callbacks). */
static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  if (ep->closed) return throw_errno(env, EBADF, "start", "closed");

  ep_drop_callbacks(env, ep);
  CHECK(env, napi_create_reference(env, argv[1], 1, &ep->on_data));
  CHECK(env, napi_create_reference(env, argv[2], 1, &ep->on_error));
  if (ep->actx == NULL) {
    napi_value resource, rname;
    CHECK(env, napi_create_object(env, &resource));
    CHECK(env, napi_create_string_utf8(env, ep->kind == EP_TAP      ? "bindery:tap"
                                       : ep->kind == EP_EPOLL  ? "bindery:tcp"
                                       : ep->kind == EP_PACKET ? "bindery:packet"
                                                               : "bindery:dgram",
                                       NAPI_AUTO_LENGTH, &rname));
    CHECK(env, napi_async_init(env, resource, rname, &ep->actx));
  }
  if (ep->rx_reuse && ep->rx == NULL &&
      !rx_attach(env, ep, ep->kind == EP_EPOLL ? 8 * EPOLL_BATCH : RX_REUSE_SIZE)) {
    throw_napi(env);
    return NULL;
  }
  if (ep->scratch == NULL && ep->kind != EP_EPOLL && !ep->rx_reuse) {
    ep->scratch = malloc(SCRATCH_SIZE);
    if (ep->scratch == NULL) return throw_errno(env, ENOMEM, "malloc", NULL);
  }
  if (!ep->poll_live) {
    uv_loop_t *loop;
    CHECK(env, napi_get_uv_event_loop(env, &loop));
    int rc = uv_poll_init(loop, &ep->poll, ep->fd);
    if (rc < 0) return throw_errno(env, -rc, "uv_poll_init", NULL);
    ep->poll.data = ep;
    ep->poll_live = true;
  }
  int rc = uv_poll_start(&ep->poll, ep->retrying ? UV_READABLE | UV_WRITABLE : UV_READABLE, on_poll);
  if (rc < 0) return throw_errno(env, -rc, "uv_poll_start", NULL);
  return NULL;
}

/* Returns the data pointer and length of a Uint16Array argument, or false after throwing. */
static bool get_u16s(napi_env env, napi_value v, const uint16_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      type != napi_uint16_array) {
    napi_throw_type_error(env, NULL, "csum and gso must be Uint16Arrays");
    return false;
  }
  *data = p;
  return true;
}

/*
 * Fills the virtio_net_hdr (little endian, as on every host this runs on) of a frame from what
 * the caller says about it, without looking into the frame: csum_offset 0 means complete;
 * otherwise the checksum field at csum_start + csum_offset holds only the pseudo-header sum and
 * the kernel is told where the sum starts (VIRTIO_NET_HDR_F_NEEDS_CSUM). `gso`, when given, is
 * (gso_type, gso_size, hdr_len) for a frame longer than the MTU that the kernel takes as a train
 * of gso_size segments (virtio 1.2 §5.1.6.2). The kernel checks the places against the frame's
 * length (EINVAL).
 */
static void vnet_header(uint8_t hdr[BDY_VNET_HDR_LEN], unsigned start, unsigned offset,
                        const uint16_t *gso) {
  memset(hdr, 0, BDY_VNET_HDR_LEN);
  if (gso != NULL && gso[0] != 0) {
    hdr[1] = (uint8_t)gso[0];
    hdr[2] = (uint8_t)(gso[2] & 0xff);
    hdr[3] = (uint8_t)(gso[2] >> 8);
    hdr[4] = (uint8_t)(gso[1] & 0xff);
    hdr[5] = (uint8_t)(gso[1] >> 8);
  }
  if (offset == 0) return;
  hdr[0] = 1; /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
  hdr[6] = (uint8_t)(start & 0xff);
  hdr[7] = (uint8_t)(start >> 8);
  hdr[8] = (uint8_t)(offset & 0xff);
  hdr[9] = (uint8_t)(offset >> 8);
}

/*
 * tapSend(handle, frames: Uint8Array[], csum?: Uint16Array, gso?: Uint16Array): number — writes
 * each frame with one non-blocking write() (writev with its virtio_net_hdr on an offloading tap,
 * where `csum` holds (csum_start, csum_offset) per frame, offset 0 for a complete frame, and
 * `gso` (gso_type, gso_size, hdr_len) per frame, type 0 for none; frames past an array's end are
 * complete / not segmented); stops at EAGAIN/ENOBUFS and returns how many frames were written (the rest are the
 * caller's drops). Any other error throws, with `sent` = frames written before it.
 */
static napi_value js_tap_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  if (ep->closed || (ep->kind != EP_TAP && ep->kind != EP_PACKET))
    return throw_errno(env, EBADF, "write", "closed");
  const uint16_t *csum = NULL, *gso = NULL;
  size_t ncsum = 0, ngso = 0;
  for (size_t a = 2; a < argc && a < 4; a++) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[a], &t));
    if (t != napi_undefined && t != napi_null &&
        !get_u16s(env, argv[a], a == 2 ? &csum : &gso, a == 2 ? &ncsum : &ngso))
      return NULL;
  }
  uint32_t count = 0, sent = 0;
  CHECK(env, napi_get_array_length(env, argv[1], &count));
  for (; sent < count; sent++) {
    napi_value el;
    const uint8_t *data;
    size_t len;
    CHECK(env, napi_get_element(env, argv[1], sent, &el));
    if (!get_bytes(env, el, &data, &len)) return NULL;
    ssize_t w;
    uint8_t hdr[BDY_VNET_HDR_LEN];
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)data, len}};
    if (ep->vnet) {
      bool have = csum != NULL && 2 * (size_t)sent + 1 < ncsum;
      bool seg = gso != NULL && 3 * (size_t)sent + 2 < ngso;
      vnet_header(hdr, have ? csum[2 * sent] : 0, have ? csum[2 * sent + 1] : 0,
                  seg ? gso + 3 * sent : NULL);
    }
    do {
      w = ep->vnet ? writev(ep->fd, iov, 2) : write(ep->fd, data, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;
      napi_value error = make_error(env, e, "write", ""), vsent;
      napi_create_uint32(env, sent, &vsent);
      napi_set_named_property(env, error, "sent", vsent);
      napi_throw(env, error);
      return NULL;
    }
  }
  napi_value v;
  CHECK(env, napi_create_uint32(env, sent, &v));
  return v;
}

/*
 * readNow(handle): reads a started datagram endpoint now, as a wake-up would, so onData (or
 * onError) runs before this returns; nothing queued costs one recvmmsg that meets EAGAIN. A
 * ping socket's reply from a local address is usually queued by the time its sendto returned
 * (loopback delivers in the sender's softirq), so reading it now saves a wake-up of the loop.
 * A no-op for other endpoints, closed ones and ones not started.
 */
static napi_value js_read_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  if (ep->closed || ep->kind != EP_DGRAM || ep->on_data == NULL || ep->scratch == NULL)
    return NULL;
  read_batch(ep);
  return NULL;
}

/*
 * dgramSend(handle, addr, port, data): boolean — one non-blocking sendto(); false when the socket
 * buffer is full (EAGAIN/ENOBUFS: the datagram is dropped), throws on other errors.
 */
static napi_value js_dgram_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  char addr[STR_MAX];
  int port;
  const uint8_t *data;
  size_t len;
  if (!get_string(env, argv[1], addr, false, "addr must be a string") ||
      !get_int(env, argv[2], &port, "port must be a number") || !get_bytes(env, argv[3], &data, &len))
    return NULL;
  if (ep->closed || ep->kind != EP_DGRAM) return throw_errno(env, EBADF, "sendto", addr);
  struct sockaddr_storage ss;
  socklen_t sl;
  bdy_status st = {0};
  if (bdy_parse_addr(ep->family, addr, port, &ss, &sl, &st) < 0) return throw_status(env, &st);
  ssize_t w;
  do {
    w = sendto(ep->fd, data, len, 0, (struct sockaddr *)&ss, sl);
  } while (w < 0 && errno == EINTR);
  bool ok = true;
  if (w < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
      return throw_errno(env, errno, "sendto", addr);
    ok = false;
  }
  napi_value v;
  CHECK(env, napi_get_boolean(env, ok, &v));
  return v;
}

/* pollerOpen(): handle — an epoll set for TCP sockets; start() delivers its ready list. */
static napi_value js_poller_open(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "epoll_create1", NULL);
  napi_value h = ep_new(env, EP_EPOLL, AF_UNSPEC, fd);
  endpoint *ep = h != NULL ? ep_get(env, h) : NULL;
  if (ep == NULL) return NULL;
  ep->rx_reuse = true;
  return h;
}

/*
 * pollerWatch(handle, sock, id, mask): errno — what to be told about TCP socket handle `sock`,
 * reported under `id`. mask: 1 readable, 2 writable, 4 peer shut its write side, 8
 * edge-triggered; 0 removes it. Errors and hang-ups are always reported. Returns 0, EBADF for a
 * closed socket, or the epoll_ctl errno.
 */
static napi_value js_poller_watch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  int mask;
  uint32_t id;
  CHECK(env, napi_get_value_uint32(env, argv[2], &id));
  if (!get_int(env, argv[3], &mask, "mask must be a number")) return NULL;
  if (ep->closed || ep->kind != EP_EPOLL) return throw_errno(env, EBADF, "epoll_ctl", "closed");
  int fd = bdy_tcp_fd(env, argv[1]);
  napi_value v;
  if (fd == -2) return NULL;
  if (fd < 0) {
    CHECK(env, napi_create_int32(env, EBADF, &v));
    return v;
  }
  int rc = 0;
  if (mask == 0) {
    rc = epoll_ctl(ep->fd, EPOLL_CTL_DEL, fd, NULL);
  } else {
    struct epoll_event ev = {.events = 0, .data = {.u64 = id}};
    if (mask & 1) ev.events |= EPOLLIN;
    if (mask & 2) ev.events |= EPOLLOUT;
    if (mask & 4) ev.events |= EPOLLRDHUP;
    if (mask & 8) ev.events |= EPOLLET;
    rc = epoll_ctl(ep->fd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0 && errno == ENOENT) rc = epoll_ctl(ep->fd, EPOLL_CTL_ADD, fd, &ev);
  }
  CHECK(env, napi_create_int32(env, rc < 0 ? errno : 0, &v));
  return v;
}

/* close(handle): stops polling, closes the fd and releases the callbacks; idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  endpoint *ep = ep_get(env, argv[0]);
  if (ep == NULL) return NULL;
  ep_close_native(ep);
  ep_drop_callbacks(env, ep);
  if (ep->actx != NULL) {
    napi_async_destroy(env, ep->actx);
    ep->actx = NULL;
  }
  return NULL;
}

/*
 * failBatches(n): number — the next `n` batch buffers of the copying read path count as not
 * creatable, as when the JS heap is exhausted (a test hook: it shows that such a batch is
 * delivered late, not lost); returns how many of the previous setting were left unused.
 */
static napi_value js_fail_batches(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bdy_instance *inst = NULL;
  CHECK(env, napi_get_instance_data(env, (void **)&inst));
  uint32_t left = inst->fail_batches;
  napi_value v;
  CHECK(env, napi_get_value_uint32(env, argv[0], &inst->fail_batches));
  CHECK(env, napi_create_uint32(env, left, &v));
  return v;
}

/* Frees the per-environment state. */
static void instance_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  bdy_instance *inst = data;
  if (inst->error_ctor != NULL) napi_delete_reference(env, inst->error_ctor);
  free(inst);
}

/* Module init: per-env state and the exported functions. */
static napi_value init(napi_env env, napi_value exports) {
  bdy_instance *inst = calloc(1, sizeof *inst);
  if (inst == NULL) return throw_errno(env, ENOMEM, "calloc", NULL);
  if (napi_set_instance_data(env, inst, instance_finalize, NULL) != napi_ok) {
    free(inst);
    throw_napi(env);
    return NULL;
  }
  static const bdy_export fns[] = {
      {"abiVersion", js_abi_version}, {"setErrorClass", js_set_error_class},
      {"tapOpen", js_tap_open},       {"pingOpen", js_ping_open},
      {"udpOpen", js_udp_open},       {"start", js_start},
      {"tapSend", js_tap_send},       {"dgramSend", js_dgram_send},
      {"readNow", js_read_now},
      {"close", js_close},            {"pollerOpen", js_poller_open},
      {"pollerWatch", js_poller_watch}, {"failBatches", js_fail_batches},
      {"packetOpen", js_packet_open},
  };
  if (!DEFINE_EXPORTS(env, exports, fns)) return NULL;
  if (!bdy_tcp_exports(env, exports)) return NULL;
  if (!bdy_repair_exports(env, exports)) return NULL;
  if (!bdy_vhost_exports(env, exports)) return NULL;
  if (!bdy_fwd_exports(env, exports)) return NULL;
  if (!bdy_udp_exports(env, exports)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
