/* bindery_native: TCP sockets for the translator — non-blocking connect and accept, peek/consume reads, vectored writes. */
/*
 * Node's net.Socket reads whatever arrives into fresh Buffers and queues writes in JS; the
 * translator wants passt's data path instead (facts-passt §1.3): bytes the guest has not
 * acknowledged stay in the kernel's receive queue, are peeked straight into the frames that carry
 * them (SO_PEEK_OFF skips what was already sent) and are dropped from the queue only when the
 * guest acknowledges them (recv with MSG_TRUNC, no copy). Sockets are watched through the shim's
 * epoll set (pollerOpen/pollerWatch in bindery.c). Every call here is non-blocking and reports
 * failure as an errno value (negative for the byte-count calls), never by throwing: errors such as
 * EAGAIN or ECONNRESET are part of the data path. Only socket creation and listening throw, with a
 * SyscallError; a handle that is not a TCP socket handle throws a TypeError.
 *
 * No fd number crosses into JS: a socket is a tagged external holding its fd. tcpClose closes the
 * fd and marks the handle closed (fd -1), so closing it again, or any later call on it, meets
 * EBADF here instead of acting on whatever the kernel has since given that fd number. A handle
 * that JS drops without closing is closed by its finaliser (a safety net, not the way to close:
 * the finaliser runs at some garbage collection, or at env teardown).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* its tcp_info has tcpi_snd_wnd; glibc's does not */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "glue.h"

/* Keepalive probes after this many idle seconds (passt: KEEPALIVE_INTERVAL 30 s). */
#define KEEPIDLE_S 30
/* Most iovec entries in one recvmsg/sendmsg (the kernel's UIO_MAXIOV). */
#define IOV_MAX_ENTRIES 1024

/* Socket options every translator socket gets: no Nagle, keepalive, peeking with an offset. */
static int tune(int fd, int mss) {
  int one = 1, idle = KEEPIDLE_S, zero = 0;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  if (mss > 0) setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  /* Linux ≥ 4.4 for TCP; without it peeks would always start at the head of the queue. */
  if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0) return errno;
  return 0;
}

/* One TCP socket, owned by a JS external; fd is -1 once closed. */
typedef struct {
  int fd;
} tcp_sock;

/* Tags socket externals so neither a foreign external nor a tap/poller handle is taken for one. */
static const napi_type_tag TCP_SOCK_TAG = {0x62696e6465727931ULL, 0x746370736f636b31ULL};

/* Finaliser of a socket handle: closes the fd if JS never did (safety net), frees the struct. */
static void sock_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  tcp_sock *s = data;
  if (s->fd >= 0) close(s->fd);
  free(s);
}

/* Closes the socket behind a handle once; later calls see fd -1 (EBADF). */
static void sock_close(tcp_sock *s) {
  if (s->fd < 0) return;
  close(s->fd);
  s->fd = -1;
}

/* Closes the fd of a socket whose handle could not be tagged (the finaliser frees it). */
static void sock_drop(void *data) { sock_close(data); }

/* Wraps a fresh fd in a tagged external; on failure closes the fd, throws and returns NULL. */
static napi_value sock_new(napi_env env, int fd, tcp_sock **out) {
  tcp_sock *s = malloc(sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "malloc", NULL);
  }
  s->fd = fd;
  napi_value ext = tagged_new(env, s, fd, sock_finalize, &TCP_SOCK_TAG, sock_drop);
  if (ext != NULL && out != NULL) *out = s;
  return ext;
}

/* Wraps a fresh or received fd in a socket handle for the shim's other files (fwd.c, repair.c). */
napi_value bdy_tcp_wrap(napi_env env, int fd) { return sock_new(env, fd, NULL); }

/* The socket behind a handle argument, or NULL after throwing a TypeError. */
static tcp_sock *sock_get(napi_env env, napi_value v) {
  return tagged_get(env, v, &TCP_SOCK_TAG, "not a bindery TCP socket handle");
}

/* The fd of an open socket handle: >= 0, -1 when closed (EBADF), -2 after throwing. */
int bdy_tcp_fd(napi_env env, napi_value v) {
  tcp_sock *s = sock_get(env, v);
  return s == NULL ? -2 : s->fd;
}

/* Formats an address ("10.0.0.1", "::1", v4-mapped shown as IPv4) and returns its port. */
static int addr_text(const struct sockaddr_storage *ss, char *buf, size_t n) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
      inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, (socklen_t)n);
    else
      inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)n);
    return ntohs(s6->sin6_port);
  }
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
  inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)n);
  return ntohs(s4->sin_port);
}

/*
 * Reads a socket handle argument into `fd`: true with fd >= 0 when open; false when it is closed
 * (*r = the EBADF result for the caller to return) or not a socket handle (*r = NULL, thrown).
 */
bool bdy_tcp_arg_fd(napi_env env, napi_value v, int *fd, napi_value *r, int64_t ebadf) {
  *fd = bdy_tcp_fd(env, v);
  if (*fd >= 0) return true;
  *r = *fd == -1 ? num(env, ebadf) : NULL;
  return false;
}

bool bdy_tcp_addr_args(napi_env env, napi_value *argv, int *fd, struct sockaddr_storage *ss,
                       socklen_t *sl, napi_value *r) {
  int family, port;
  char addr[STR_MAX];
  *r = NULL;
  if (!get_int(env, argv[1], &family, "family must be 4 or 6") ||
      !get_string(env, argv[2], addr, false, "addr must be a string") ||
      !get_int(env, argv[3], &port, "port must be a number"))
    return false;
  if (!bdy_tcp_arg_fd(env, argv[0], fd, r, EBADF)) return false;
  bdy_status st = {0};
  if (bdy_parse_addr(family == 6 ? AF_INET6 : AF_INET, addr, port, ss, sl, &st) < 0) {
    *r = num(env, st.err);
    return false;
  }
  return true;
}

/* tcpSocket(family 4|6, mss): handle — a non-blocking, close-on-exec stream socket, tuned. */
static napi_value js_tcp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, mss;
  if (!get_int(env, argv[0], &family, "family must be 4 or 6") ||
      !get_int(env, argv[1], &mss, "mss must be a number"))
    return NULL;
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", NULL);
  int err = tune(fd, mss);
  if (err != 0) {
    close(fd);
    return throw_errno(env, err, "setsockopt(SO_PEEK_OFF)", NULL);
  }
  return sock_new(env, fd, NULL);
}

/* tcpConnect(sock, family, addr, port): errno — 0 connected, EINPROGRESS pending, else the failure. */
static napi_value js_tcp_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!bdy_tcp_addr_args(env, argv, &fd, &ss, &sl, &r)) return r;
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&ss, sl);
  } while (rc < 0 && errno == EINTR);
  return num(env, rc < 0 ? errno : 0);
}

/*
 * tcpListen(addr, port, backlog): [handle, boundPort] — a non-blocking listening socket; '::' also
 * takes IPv4 (IPV6_V6ONLY off). Throws SyscallError (EADDRINUSE, EACCES, …).
 */
static napi_value js_tcp_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char addr[STR_MAX], detail[STR_MAX + 16];
  int port, backlog;
  if (!get_string(env, argv[0], addr, false, "addr must be a string") ||
      !get_int(env, argv[1], &port, "port must be a number") ||
      !get_int(env, argv[2], &backlog, "backlog must be a number"))
    return NULL;
  int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
  snprintf(detail, sizeof detail, "%s%s%s port %d", family == AF_INET6 ? "[" : "", addr,
           family == AF_INET6 ? "]" : "", port);
  struct sockaddr_storage ss;
  socklen_t sl;
  bdy_status st = {0};
  if (bdy_parse_addr(family, addr, port, &ss, &sl, &st) < 0) return throw_status(env, &st);
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", detail);
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  const char *call = NULL;
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
    call = "bind";
  else if (listen(fd, backlog) < 0)
    call = "listen";
  else if (getsockname(fd, (struct sockaddr *)&bound, &bl) < 0)
    call = "getsockname";
  if (call != NULL) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, call, detail);
  }
  char text[INET6_ADDRSTRLEN];
  int bport = addr_text(&bound, text, sizeof text);
  tcp_sock *s = NULL;
  napi_value h = sock_new(env, fd, &s), vport, arr;
  if (h == NULL) return NULL;
  if (napi_create_int32(env, bport, &vport) != napi_ok || (arr = pair(env, h, vport)) == NULL) {
    sock_close(s);
    throw_napi(env);
    return NULL;
  }
  return arr;
}

/* Builds tcpAccept's result array; false (nothing thrown yet) when a napi call failed. */
static bool accept_result(napi_env env, napi_value h, const char *ptext, int pport,
                          const char *ltext, int lport, napi_value *out) {
  napi_value arr, v[4];
  if (napi_create_array_with_length(env, 5, &arr) != napi_ok ||
      napi_create_string_latin1(env, ptext, NAPI_AUTO_LENGTH, &v[0]) != napi_ok ||
      napi_create_int32(env, pport, &v[1]) != napi_ok ||
      napi_create_string_latin1(env, ltext, NAPI_AUTO_LENGTH, &v[2]) != napi_ok ||
      napi_create_int32(env, lport, &v[3]) != napi_ok || napi_set_element(env, arr, 0, h) != napi_ok)
    return false;
  for (uint32_t i = 0; i < 4; i++)
    if (napi_set_element(env, arr, i + 1, v[i]) != napi_ok) return false;
  *out = arr;
  return true;
}

/*
 * tcpAccept(listener, mss): [handle, peerAddr, peerPort, localAddr, localPort] | errno — one
 * accepted connection, tuned like tcpSocket's; a number when none is waiting (EAGAIN) or accept
 * failed. The accepted fd is closed on every path that does not hand its handle to JS.
 */
static napi_value js_tcp_accept(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int lfd, mss;
  if (!get_int(env, argv[1], &mss, "mss must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &lfd, &r, EBADF)) return r;
  struct sockaddr_storage peer, local;
  socklen_t pl = sizeof peer, ll = sizeof local;
  int fd;
  do {
    fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return num(env, errno);
  int err = tune(fd, mss);
  if (err == 0 && getsockname(fd, (struct sockaddr *)&local, &ll) < 0) err = errno;
  if (err != 0) {
    close(fd);
    return num(env, err);
  }
  char ptext[INET6_ADDRSTRLEN], ltext[INET6_ADDRSTRLEN];
  int pport = addr_text(&peer, ptext, sizeof ptext);
  int lport = addr_text(&local, ltext, sizeof ltext);
  tcp_sock *s = NULL;
  napi_value h = sock_new(env, fd, &s), arr;
  if (h == NULL) return NULL; /* sock_new closed the fd */
  if (!accept_result(env, h, ptext, pport, ltext, lport, &arr)) {
    sock_close(s);
    throw_napi(env);
    return NULL;
  }
  return arr;
}

/*
 * tcpPeek(sock, buf: Uint8Array, iov: Uint32Array, count, offset): number — copies queued bytes,
 * without removing them, into `count` regions of `buf` (iov holds (start, length) pairs), in
 * one recvmsg(MSG_PEEK). `offset` ≥ 0 first moves the peek offset (SO_PEEK_OFF) to that many
 * bytes past the head of the queue; −1 keeps it (the kernel advances it by what each peek
 * returns and moves it back by what tcpConsume drops). Returns the bytes copied, 0 at the end of
 * the stream (the peer's FIN, with nothing past the offset), or −errno (−EAGAIN: nothing yet).
 */
static napi_value js_tcp_peek(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, count, offset;
  const uint8_t *buf;
  size_t blen, ilen;
  uint32_t *iov;
  if (!get_bytes(env, argv[1], &buf, &blen) || !get_u32s(env, argv[2], &iov, &ilen) ||
      !get_int(env, argv[3], &count, "count must be a number") ||
      !get_int(env, argv[4], &offset, "offset must be a number"))
    return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  if (count < 1 || count > IOV_MAX_ENTRIES || (size_t)count * 2 > ilen) return num(env, -EINVAL);
  struct iovec v[IOV_MAX_ENTRIES];
  for (int i = 0; i < count; i++) {
    size_t start = iov[2 * i], len = iov[2 * i + 1];
    if (start > blen || len > blen - start) return num(env, -EINVAL);
    v[i].iov_base = (void *)(buf + start);
    v[i].iov_len = len;
  }
  if (offset >= 0 && setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &offset, sizeof offset) < 0)
    return num(env, -errno);
  struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)count};
  ssize_t n;
  do {
    n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  return num(env, n < 0 ? -errno : n);
}

/*
 * tcpConsume(sock, n): number — drops up to n bytes from the head of the receive queue without
 * copying them (recv with MSG_TRUNC); returns the bytes dropped or −errno.
 */
static napi_value js_tcp_consume(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, n;
  if (!get_int(env, argv[1], &n, "n must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  int64_t done = 0;
  while (done < n) {
    ssize_t got = recv(fd, NULL, (size_t)(n - done), MSG_TRUNC | MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return num(env, done > 0 ? done : -errno);
    if (got == 0) break;
    done += got;
  }
  return num(env, done);
}

/*
 * tcpSend(sock, bufs: Uint8Array[], count): number — writes bufs[0..count) in order with
 * sendmsg(MSG_DONTWAIT|MSG_NOSIGNAL), IOV_MAX_ENTRIES at a time; returns the bytes written (less
 * than all when the send buffer filled) or −errno when nothing could be written.
 */
static napi_value js_tcp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, count;
  if (!get_int(env, argv[2], &count, "count must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  struct iovec v[IOV_MAX_ENTRIES];
  int64_t total = 0;
  for (int base = 0; base < count;) {
    int k = 0;
    size_t want = 0;
    for (; k < IOV_MAX_ENTRIES && base + k < count; k++) {
      napi_value el;
      const uint8_t *data;
      size_t len;
      CHECK(env, napi_get_element(env, argv[1], (uint32_t)(base + k), &el));
      if (!get_bytes(env, el, &data, &len)) return NULL;
      v[k].iov_base = (void *)data;
      v[k].iov_len = len;
      want += len;
    }
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)k};
    ssize_t w;
    do {
      w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w < 0) return num(env, total > 0 ? total : -errno);
    total += w;
    if ((size_t)w < want) break;
    base += k;
  }
  return num(env, total);
}

/* tcpShutdown(sock): errno — ends our write side (the peer reads EOF after the queued bytes). */
static napi_value js_tcp_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  return num(env, shutdown(fd, SHUT_WR) < 0 ? errno : 0);
}

/*
 * tcpClose(sock, reset): undefined — closes the socket; with `reset` the peer gets an RST at once
 * (SO_LINGER 0), otherwise the usual FIN once queued data is sent. Closing a closed handle does
 * nothing (its old fd number may belong to another socket by now).
 */
static napi_value js_tcp_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool reset = false;
  tcp_sock *s = sock_get(env, argv[0]);
  if (s == NULL) return NULL;
  CHECK(env, napi_get_value_bool(env, argv[1], &reset));
  if (s->fd < 0) return NULL;
  if (reset) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  sock_close(s);
  return NULL;
}

/* tcpSocketError(sock): errno — the pending error (SO_ERROR), read and cleared; 0 if none. */
static napi_value js_tcp_socket_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, err = 0;
  socklen_t l = sizeof err;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
  return num(env, err);
}

/*
 * tcpInfo(sock, out: Uint32Array(7)): errno — out = [bytes in the send queue (SIOCOUTQ), bytes
 * readable (SIOCINQ), SO_SNDBUF, smoothed RTT µs, the peer's window (tcpi_snd_wnd), TCP state,
 * bytes not yet sent (SIOCOUTQNSD)].
 */
static napi_value js_tcp_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *out;
  size_t len;
  if (!get_u32s(env, argv[1], &out, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (len < 7) return num(env, EINVAL);
  int outq = 0, inq = 0, sndbuf = 0, nsd = 0;
  socklen_t l = sizeof sndbuf;
  struct tcp_info ti;
  socklen_t tl = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (ioctl(fd, SIOCOUTQ, &outq) < 0 || ioctl(fd, SIOCINQ, &inq) < 0 ||
      ioctl(fd, SIOCOUTQNSD, &nsd) < 0 || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) < 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
    return num(env, errno);
  out[0] = (uint32_t)outq;
  out[1] = (uint32_t)inq;
  out[2] = (uint32_t)sndbuf;
  out[3] = ti.tcpi_rtt;
  out[4] = ti.tcpi_snd_wnd;
  out[5] = ti.tcpi_state;
  out[6] = (uint32_t)nsd;
  return num(env, 0);
}

bool bdy_tcp_exports(napi_env env, napi_value exports) {
  static const bdy_export fns[] = {
      {"tcpSocket", js_tcp_socket},   {"tcpConnect", js_tcp_connect},
      {"tcpListen", js_tcp_listen},   {"tcpAccept", js_tcp_accept},
      {"tcpPeek", js_tcp_peek},       {"tcpConsume", js_tcp_consume},
      {"tcpSend", js_tcp_send},       {"tcpShutdown", js_tcp_shutdown},
      {"tcpClose", js_tcp_close},     {"tcpSocketError", js_tcp_socket_error},
      {"tcpInfo", js_tcp_info},
  };
  return DEFINE_EXPORTS(env, exports, fns);
}
