/* bindery_native: the UDP translator's flow sockets — many datagrams per system call (recvmmsg, sendmmsg). */
/*
 * node:dgram makes one recvmsg and one JS call, a fresh Buffer and a fresh address object per
 * datagram, and one sendmsg per datagram (facts-passt §1.4: passt reads flows with recvmmsg and
 * writes them with sendmmsg). These calls give the translator the same shape:
 * - udpSocket: a non-blocking UDP socket of one family, optionally bound and/or connected (a
 *   connected flow socket gets every datagram from its peer only, and ICMP errors as
 *   ECONNREFUSED on the next read). It is a TCP socket handle of tcp.c (a tagged external), so
 *   the shim's epoll set (pollerWatch) watches it and tcpClose closes it.
 * - udpRecvMany: one recvmmsg(MSG_DONTWAIT) of up to `max` datagrams into fixed slots of one
 *   caller-owned buffer (the same buffer every time: nothing is allocated per datagram), each
 *   datagram's length, truncation flag and source (port, family, address bytes) in a
 *   caller-owned Uint32Array. recvmmsg(2): an error met after some datagrams were read is left
 *   on the socket (sk_err) and reported by the next call.
 * - udpSendMany: one sendmmsg(MSG_DONTWAIT) of several datagrams to the connected peer or to one
 *   address; it reports how many the kernel took, so a full socket buffer (EAGAIN) is a partial
 *   send the caller counts as drops (UDP: passt drops too), never an exception.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "glue.h"

/* Most datagrams one udpSendMany system call takes (sendmmsg: UIO_MAXIOV). */
#define UDP_BATCH_MAX 1024
/* Most datagrams one udpRecvMany call reads (its headers live on the stack). */
#define UDP_RECV_MAX 256
/* u32 words of udpRecvMany's metadata per datagram: len, flags, port, family, 4 address words. */
#define UDP_META_WORDS 8
/* Flag bit in the metadata: the datagram did not fit its slot (MSG_TRUNC); len is what fit. */
#define UDP_FLAG_TRUNC 1u

/* The open fd of a socket handle argument; false with *r set (EBADF as a negative count). */
static bool sock_fd(napi_env env, napi_value v, int *fd, napi_value *r) {
  return bdy_tcp_arg_fd(env, v, fd, r, -EBADF);
}

/* True when v is null or undefined. */
static bool absent(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) != napi_ok || t == napi_null || t == napi_undefined;
}

/*
 * udpSocket(family 4|6, bindAddr|null, bindPort, peerAddr|null, peerPort): [TcpHandle, port] —
 * a non-blocking UDP socket, bound when bindAddr is given and connected when peerAddr is given,
 * and its local port (0 when neither).
 * Throws a SyscallError (EADDRINUSE, ENETUNREACH, …) naming the address.
 */
static napi_value js_udp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, bport, pport;
  char baddr[STR_MAX] = "", paddr[STR_MAX] = "";
  bool do_bind = argc >= 2 && !absent(env, argv[1]);
  bool do_conn = argc >= 4 && !absent(env, argv[3]);
  if (!get_int(env, argv[0], &family, "family must be 4 or 6") ||
      (do_bind && (!get_string(env, argv[1], baddr, false, "bindAddr must be a string") ||
                   !get_int(env, argv[2], &bport, "bindPort must be a number"))) ||
      (do_conn && (!get_string(env, argv[3], paddr, false, "peerAddr must be a string") ||
                   !get_int(env, argv[4], &pport, "peerPort must be a number"))))
    return NULL;
  int af = family == 6 ? AF_INET6 : AF_INET;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", NULL);
  struct sockaddr_storage ss;
  socklen_t sl;
  bdy_status st = {0};
  const char *call = NULL, *what = NULL;
  int err = 0;
  if (do_bind) {
    what = baddr;
    if (bdy_parse_addr(af, baddr, bport, &ss, &sl, &st) < 0) {
      call = "bind";
      err = st.err;
    } else if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
      call = "bind";
      err = errno;
    }
  }
  if (call == NULL && do_conn) {
    what = paddr;
    if (bdy_parse_addr(af, paddr, pport, &ss, &sl, &st) < 0) {
      call = "connect";
      err = st.err;
    } else if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
      call = "connect";
      err = errno;
    }
  }
  if (call != NULL) {
    close(fd);
    return throw_errno(env, err, call, what);
  }
  struct sockaddr_storage local;
  socklen_t ll = sizeof local;
  int lport = 0;
  if ((do_bind || do_conn) && getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
    lport = ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port
                                              : ((struct sockaddr_in *)&local)->sin_port);
  napi_value h = bdy_tcp_wrap(env, fd), p;
  if (h == NULL) return NULL;
  CHECK(env, napi_create_int32(env, lport, &p));
  return pair(env, h, p);
}

/*
 * udpRecvMany(sock, buf: Uint8Array, slot, meta: Uint32Array, max): count | −errno — reads up to
 * `max` waiting datagrams in one recvmmsg: datagram i lands at buf[i*slot …] (truncated to
 * `slot` bytes), its metadata at meta[8*i …]: length stored, flags (1: truncated), source port,
 * source family (4 or 6; an IPv4-mapped IPv6 source is given as 4), then the source address's
 * bytes in network order (4 or 16) from byte 16 of the entry. −EAGAIN when nothing waits.
 */
static napi_value js_udp_recv_many(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const uint8_t *buf;
  size_t blen, mlen;
  uint32_t slot, max, *meta;
  if (!get_bytes(env, argv[1], &buf, &blen) || !get_u32(env, argv[2], &slot, "slot must be a number") ||
      !get_u32s(env, argv[3], &meta, &mlen) || !get_u32(env, argv[4], &max, "max must be a number"))
    return NULL;
  int fd;
  if (!sock_fd(env, argv[0], &fd, &r)) return r;
  if (slot == 0) return num(env, -EINVAL);
  if (max > blen / slot) max = (uint32_t)(blen / slot);
  if (max > mlen / UDP_META_WORDS) max = (uint32_t)(mlen / UDP_META_WORDS);
  if (max > UDP_RECV_MAX) max = UDP_RECV_MAX;
  if (max == 0) return num(env, 0);
  struct mmsghdr msgs[max];
  struct iovec iov[max];
  struct sockaddr_storage from[max];
  memset(msgs, 0, sizeof(struct mmsghdr) * max);
  for (uint32_t i = 0; i < max; i++) {
    iov[i].iov_base = (uint8_t *)buf + (size_t)i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int n;
  do {
    n = recvmmsg(fd, msgs, max, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return num(env, -errno);
  for (int i = 0; i < n; i++) {
    uint32_t *m = meta + (size_t)i * UDP_META_WORDS;
    uint8_t *a = (uint8_t *)(m + 4);
    memset(m, 0, UDP_META_WORDS * sizeof *m);
    m[0] = msgs[i].msg_len;
    m[1] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? UDP_FLAG_TRUNC : 0;
    if (from[i].ss_family == AF_INET6) {
      const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&from[i];
      m[2] = ntohs(s6->sin6_port);
      if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
        m[3] = 4;
        memcpy(a, &s6->sin6_addr.s6_addr[12], 4);
      } else {
        m[3] = 6;
        memcpy(a, &s6->sin6_addr, 16);
      }
    } else {
      const struct sockaddr_in *s4 = (const struct sockaddr_in *)&from[i];
      m[2] = ntohs(s4->sin_port);
      m[3] = 4;
      memcpy(a, &s4->sin_addr, 4);
    }
  }
  return num(env, n);
}

/*
 * udpSendMany(sock, bufs: Uint8Array[], count, family, addr|null, port): sent | −errno — sends
 * bufs[0..count) as one datagram each with sendmmsg, to the connected peer (addr null) or to
 * (addr, port). Returns how many the kernel took: fewer than count when its buffer filled
 * (EAGAIN/ENOBUFS after some went); −errno only when the first one failed.
 */
static napi_value js_udp_send_many(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t count, len;
  int family = 4, port = 0;
  char addr[STR_MAX] = "";
  bool to = argc >= 5 && !absent(env, argv[4]);
  if (!get_u32(env, argv[2], &count, "count must be a number") ||
      !get_int(env, argv[3], &family, "family must be 4 or 6") ||
      (to && (!get_string(env, argv[4], addr, false, "addr must be a string") ||
              !get_int(env, argv[5], &port, "port must be a number"))))
    return NULL;
  CHECK(env, napi_get_array_length(env, argv[1], &len));
  if (count > len) count = len;
  int fd;
  if (!sock_fd(env, argv[0], &fd, &r)) return r;
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  if (to) {
    bdy_status st = {0};
    if (bdy_parse_addr(family == 6 ? AF_INET6 : AF_INET, addr, port, &ss, &sl, &st) < 0)
      return num(env, -st.err);
  }
  uint32_t sent = 0;
  while (sent < count) {
    uint32_t n = count - sent > UDP_BATCH_MAX ? UDP_BATCH_MAX : count - sent;
    struct mmsghdr msgs[n];
    struct iovec iov[n];
    memset(msgs, 0, sizeof(struct mmsghdr) * n);
    for (uint32_t i = 0; i < n; i++) {
      napi_value el;
      const uint8_t *data;
      size_t dl;
      CHECK(env, napi_get_element(env, argv[1], sent + i, &el));
      if (!get_bytes(env, el, &data, &dl)) return NULL;
      iov[i].iov_base = (void *)data;
      iov[i].iov_len = dl;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (to) {
        msgs[i].msg_hdr.msg_name = &ss;
        msgs[i].msg_hdr.msg_namelen = sl;
      }
    }
    int k;
    do {
      k = sendmmsg(fd, msgs, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (k < 0 && errno == EINTR);
    if (k < 0) {
      if (sent > 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      return num(env, -errno);
    }
    sent += (uint32_t)k;
    if ((uint32_t)k < n) break;
  }
  return num(env, sent);
}

bool bdy_udp_exports(napi_env env, napi_value exports) {
  static const bdy_export fns[] = {
      {"udpSocket", js_udp_socket},
      {"udpRecvMany", js_udp_recv_many},
      {"udpSendMany", js_udp_send_many},
  };
  return DEFINE_EXPORTS(env, exports, fns);
}
