/* bindery_native: TCP sockets for the translator — non-blocking connect and accept, peek/consume reads, vectored writes. */
/*
 * Node's net.Socket reads whatever arrives into fresh Buffers and queues writes in JS; the
 * translator wants passt's data path instead (facts-passt §1.3): bytes the guest has not
 * acknowledged stay in the kernel's receive queue, are peeked straight into the frames that carry
 * them (SO_PEEK_OFF skips what was already sent) and are dropped from the queue only when the
 * guest acknowledges them (recv with MSG_TRUNC, no copy). Sockets are plain fds owned by JS and
 * watched through the shim's epoll set (pollerOpen/pollerWatch in bindery.c). Every call here is
 * non-blocking and reports failure as an errno value (negative for the byte-count calls), never
 * by throwing: errors such as EAGAIN or ECONNRESET are part of the data path. Only socket creation
 * and listening throw, with a SyscallError.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* its tcp_info has tcpi_snd_wnd; glibc's does not */
#include <stdio.h>
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

static napi_value num(napi_env env, int64_t v) {
  napi_value r;
  CHECK(env, napi_create_int64(env, v, &r));
  return r;
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

/* tcpSocket(family 4|6, mss): fd — a non-blocking, close-on-exec stream socket, tuned. */
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
  return num(env, fd);
}

/* tcpConnect(fd, family, addr, port): errno — 0 connected, EINPROGRESS pending, else the failure. */
static napi_value js_tcp_connect(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, family, port;
  char addr[STR_MAX];
  if (!get_int(env, argv[0], &fd, "fd must be a number") ||
      !get_int(env, argv[1], &family, "family must be 4 or 6") ||
      !get_string(env, argv[2], addr, false, "addr must be a string") ||
      !get_int(env, argv[3], &port, "port must be a number"))
    return NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  bdy_status st = {0};
  if (bdy_parse_addr(family == 6 ? AF_INET6 : AF_INET, addr, port, &ss, &sl, &st) < 0)
    return num(env, st.err);
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&ss, sl);
  } while (rc < 0 && errno == EINTR);
  return num(env, rc < 0 ? errno : 0);
}

/*
 * tcpListen(addr, port, backlog): [fd, boundPort] — a non-blocking listening socket; '::' also
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
  const char *call = NULL;
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
    call = "bind";
  else if (listen(fd, backlog) < 0)
    call = "listen";
  if (call != NULL) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, call, detail);
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  char text[INET6_ADDRSTRLEN];
  int bport = addr_text(&bound, text, sizeof text);
  return pair(env, num(env, fd), num(env, bport));
}

/*
 * tcpAccept(listenFd, mss): [fd, peerAddr, peerPort, localAddr, localPort] | errno — one accepted
 * connection, tuned like tcpSocket's; a number when none is waiting (EAGAIN) or accept failed.
 */
static napi_value js_tcp_accept(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int lfd, mss;
  if (!get_int(env, argv[0], &lfd, "fd must be a number") ||
      !get_int(env, argv[1], &mss, "mss must be a number"))
    return NULL;
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
  napi_value arr, v;
  CHECK(env, napi_create_array_with_length(env, 5, &arr));
  CHECK(env, napi_set_element(env, arr, 0, num(env, fd)));
  CHECK(env, napi_create_string_latin1(env, ptext, NAPI_AUTO_LENGTH, &v));
  CHECK(env, napi_set_element(env, arr, 1, v));
  CHECK(env, napi_set_element(env, arr, 2, num(env, pport)));
  CHECK(env, napi_create_string_latin1(env, ltext, NAPI_AUTO_LENGTH, &v));
  CHECK(env, napi_set_element(env, arr, 3, v));
  CHECK(env, napi_set_element(env, arr, 4, num(env, lport)));
  return arr;
}

/* Returns the data pointer and length of a Uint32Array argument, or false after throwing. */
static bool get_u32s(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL) != napi_ok ||
      type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "expected a Uint32Array");
    return false;
  }
  *data = p;
  return true;
}

/*
 * tcpPeek(fd, buf: Uint8Array, iov: Uint32Array, count, offset): number — copies queued bytes,
 * without removing them, into `count` regions of `buf` (iov holds (start, length) pairs), in
 * one recvmsg(MSG_PEEK). `offset` ≥ 0 first moves the peek offset (SO_PEEK_OFF) to that many
 * bytes past the head of the queue; −1 keeps it (the kernel advances it by what each peek
 * returns and moves it back by what tcpConsume drops). Returns the bytes copied, 0 at the end of
 * the stream (the peer's FIN, with nothing past the offset), or −errno (−EAGAIN: nothing yet).
 */
static napi_value js_tcp_peek(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, count, offset;
  const uint8_t *buf;
  size_t blen, ilen;
  uint32_t *iov;
  if (!get_int(env, argv[0], &fd, "fd must be a number") || !get_bytes(env, argv[1], &buf, &blen) ||
      !get_u32s(env, argv[2], &iov, &ilen) || !get_int(env, argv[3], &count, "count must be a number") ||
      !get_int(env, argv[4], &offset, "offset must be a number"))
    return NULL;
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
  ssize_t r;
  do {
    r = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
  } while (r < 0 && errno == EINTR);
  return num(env, r < 0 ? -errno : r);
}

/*
 * tcpConsume(fd, n): number — drops up to n bytes from the head of the receive queue without
 * copying them (recv with MSG_TRUNC); returns the bytes dropped or −errno.
 */
static napi_value js_tcp_consume(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, n;
  if (!get_int(env, argv[0], &fd, "fd must be a number") ||
      !get_int(env, argv[1], &n, "n must be a number"))
    return NULL;
  int64_t done = 0;
  while (done < n) {
    ssize_t r = recv(fd, NULL, (size_t)(n - done), MSG_TRUNC | MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return num(env, done > 0 ? done : -errno);
    if (r == 0) break;
    done += r;
  }
  return num(env, done);
}

/*
 * tcpSend(fd, bufs: Uint8Array[], count): number — writes bufs[0..count) in order with
 * sendmsg(MSG_DONTWAIT|MSG_NOSIGNAL), IOV_MAX_ENTRIES at a time; returns the bytes written (less
 * than all when the send buffer filled) or −errno when nothing could be written.
 */
static napi_value js_tcp_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, count;
  if (!get_int(env, argv[0], &fd, "fd must be a number") ||
      !get_int(env, argv[2], &count, "count must be a number"))
    return NULL;
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

/* tcpShutdown(fd): errno — ends our write side (the peer reads EOF after the queued bytes). */
static napi_value js_tcp_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (!get_int(env, argv[0], &fd, "fd must be a number")) return NULL;
  return num(env, shutdown(fd, SHUT_WR) < 0 ? errno : 0);
}

/*
 * tcpClose(fd, reset): undefined — closes the socket; with `reset` the peer gets an RST at once
 * (SO_LINGER 0), otherwise the usual FIN once queued data is sent.
 */
static napi_value js_tcp_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  bool reset = false;
  if (!get_int(env, argv[0], &fd, "fd must be a number")) return NULL;
  CHECK(env, napi_get_value_bool(env, argv[1], &reset));
  if (fd < 0) return NULL;
  if (reset) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  close(fd);
  return NULL;
}

/* tcpSocketError(fd): errno — the pending error (SO_ERROR), read and cleared; 0 if none. */
static napi_value js_tcp_socket_error(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, err = 0;
  socklen_t l = sizeof err;
  if (!get_int(env, argv[0], &fd, "fd must be a number")) return NULL;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
  return num(env, err);
}

/*
 * tcpInfo(fd, out: Uint32Array(7)): errno — out = [bytes in the send queue (SIOCOUTQ), bytes
 * readable (SIOCINQ), SO_SNDBUF, smoothed RTT µs, the peer's window (tcpi_snd_wnd), TCP state,
 * bytes not yet sent (SIOCOUTQNSD)].
 */
static napi_value js_tcp_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *out;
  size_t len;
  if (!get_int(env, argv[0], &fd, "fd must be a number") || !get_u32s(env, argv[1], &out, &len))
    return NULL;
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
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"tcpSocket", js_tcp_socket},   {"tcpConnect", js_tcp_connect},
      {"tcpListen", js_tcp_listen},   {"tcpAccept", js_tcp_accept},
      {"tcpPeek", js_tcp_peek},       {"tcpConsume", js_tcp_consume},
      {"tcpSend", js_tcp_send},       {"tcpShutdown", js_tcp_shutdown},
      {"tcpClose", js_tcp_close},     {"tcpSocketError", js_tcp_socket_error},
      {"tcpInfo", js_tcp_info},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) {
      throw_napi(env);
      return false;
    }
  }
  return true;
}
