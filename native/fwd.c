/* bindery_native: the all-ports forwarding path — original destinations of redirected connections, pktinfo UDP, the fd limit. */
/*
 * With the pod's nftables rule (render/fwd-rules.ts) every forwarded TCP port is REDIRECTed to one
 * listener per family, and every forwarded UDP port is DNATed to an address that encodes the port
 * (127.1.H.L, or PREFIX::port in an IPv6 /112 routed `local` on lo) on one socket per family.
 * Nothing here needs a capability:
 * - fwdListen: a TCP listener for one family (IPV6_V6ONLY on, so both families can share a port);
 * - fwdOriginalDst: SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST, conntrack's pre-NAT destination;
 * - fwdUdpOpen/fwdUdpRecv/fwdUdpSend: a UDP socket that reports each datagram's destination
 *   address (IP_PKTINFO / IPV6_RECVPKTINFO) and answers from it (sendmsg with pktinfo), so that
 *   conntrack matches the reply to the DNAT and restores the address and port the client used.
 *   IPV6_FREEBIND lets it send from the /112's addresses, which are routed but not assigned;
 * - fwdRaiseNofile: soft RLIMIT_NOFILE up to the hard limit, for the per-port fallback.
 * Sockets are the TCP handles of tcp.c (tagged externals), so the shim's epoll set watches them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "glue.h"

/* linux/netfilter_ipv4.h and ip6_tables.h (not included: they clash with net/if.h). */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* Formats an address of either family and returns its port. */
static int text_of(const struct sockaddr_storage *ss, char *buf, size_t n) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)n);
    return ntohs(s6->sin6_port);
  }
  const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
  inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)n);
  return ntohs(s4->sin_port);
}

/* Opens, binds (and for TCP listens) a non-blocking socket of one family on the wildcard address. */
static napi_value open_bound(napi_env env, int family, int type, int port, int backlog) {
  char detail[64];
  snprintf(detail, sizeof detail, "%s port %d", family == 6 ? "[::]" : "0.0.0.0", port);
  int af = family == 6 ? AF_INET6 : AF_INET;
  int fd = socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", detail);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const char *call = NULL;
  if (af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
    call = "setsockopt(IPV6_V6ONLY)";
  if (call == NULL && type == SOCK_DGRAM) {
    if (af == AF_INET && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0)
      call = "setsockopt(IP_PKTINFO)";
    if (af == AF_INET6 && (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0 ||
                           setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one) < 0))
      call = "setsockopt(IPV6_RECVPKTINFO)";
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  if (af == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    sl = sizeof *s4;
  }
  if (call == NULL && bind(fd, (struct sockaddr *)&ss, sl) < 0) call = "bind";
  if (call == NULL && type == SOCK_STREAM && listen(fd, backlog) < 0) call = "listen";
  if (call != NULL) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, call, detail);
  }
  return bdy_tcp_wrap(env, fd);
}

/* fwdListen(family 4|6, port, backlog): handle — a TCP listener of one family. Throws. */
static napi_value js_fwd_listen(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, port, backlog;
  if (!get_int(env, argv[0], &family, "family must be 4 or 6") ||
      !get_int(env, argv[1], &port, "port must be a number") ||
      !get_int(env, argv[2], &backlog, "backlog must be a number"))
    return NULL;
  return open_bound(env, family, SOCK_STREAM, port, backlog);
}

/* fwdUdpOpen(family 4|6, port): handle — a UDP socket reporting destinations (pktinfo). Throws. */
static napi_value js_fwd_udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, port;
  if (!get_int(env, argv[0], &family, "family must be 4 or 6") ||
      !get_int(env, argv[1], &port, "port must be a number"))
    return NULL;
  return open_bound(env, family, SOCK_DGRAM, port, 0);
}

/*
 * fwdOriginalDst(sock, family): [addr, port] | errno — the destination the client connected to
 * before the REDIRECT (conntrack's original tuple), e.g. ENOENT when no NAT applied.
 */
static napi_value js_fwd_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, family;
  if (!get_int(env, argv[1], &family, "family must be 4 or 6")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl = family == 6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  int rc = family == 6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &sl)
                       : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &sl);
  if (rc < 0) return num(env, errno);
  char text[INET6_ADDRSTRLEN];
  int port = text_of(&ss, text, sizeof text);
  napi_value a, p;
  CHECK(env, napi_create_string_latin1(env, text, NAPI_AUTO_LENGTH, &a));
  CHECK(env, napi_create_int32(env, port, &p));
  return pair(env, a, p);
}

/*
 * fwdUdpRecv(sock, buf: Uint8Array): [len, srcAddr, srcPort, dstAddr] | errno — one datagram
 * (truncated to buf), its sender and the address it was sent to (after DNAT).
 */
static napi_value js_fwd_udp_recv(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  const uint8_t *data;
  size_t len;
  if (!get_bytes(env, argv[1], &data, &len)) return NULL;
  int fd;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  struct sockaddr_storage from;
  union {
    struct cmsghdr h;
    uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
  } ctl;
  struct iovec iov = {(void *)data, len};
  struct msghdr msg = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                       .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return num(env, errno);
  char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN] = "";
  int sport = text_of(&from, src, sizeof src);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      inet_ntop(AF_INET, &pi.ipi_addr, dst, sizeof dst);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      inet_ntop(AF_INET6, &pi.ipi6_addr, dst, sizeof dst);
    }
  }
  napi_value arr, v[4];
  CHECK(env, napi_create_array_with_length(env, 4, &arr));
  CHECK(env, napi_create_int64(env, n, &v[0]));
  CHECK(env, napi_create_string_latin1(env, src, NAPI_AUTO_LENGTH, &v[1]));
  CHECK(env, napi_create_int32(env, sport, &v[2]));
  CHECK(env, napi_create_string_latin1(env, dst, NAPI_AUTO_LENGTH, &v[3]));
  for (uint32_t i = 0; i < 4; i++) CHECK(env, napi_set_element(env, arr, i, v[i]));
  return arr;
}

/*
 * fwdUdpSend(sock, family, data, addr, port, srcAddr): errno — sends one datagram to (addr,
 * port) from srcAddr (pktinfo), non-blocking; 0 when sent.
 */
static napi_value js_fwd_udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int family, port, fd;
  const uint8_t *data;
  size_t len;
  char addr[STR_MAX], srca[STR_MAX];
  if (!get_int(env, argv[1], &family, "family must be 4 or 6") ||
      !get_bytes(env, argv[2], &data, &len) ||
      !get_string(env, argv[3], addr, false, "addr must be a string") ||
      !get_int(env, argv[4], &port, "port must be a number") ||
      !get_string(env, argv[5], srca, false, "srcAddr must be a string"))
    return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  int af = family == 6 ? AF_INET6 : AF_INET;
  struct sockaddr_storage to;
  socklen_t tl;
  bdy_status st = {0};
  if (bdy_parse_addr(af, addr, port, &to, &tl, &st) < 0) return num(env, st.err);
  union {
    struct cmsghdr h;
    uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {(void *)data, len};
  struct msghdr msg = {.msg_name = &to, .msg_namelen = tl, .msg_iov = &iov, .msg_iovlen = 1,
                       .msg_control = &ctl};
  struct cmsghdr *c = (struct cmsghdr *)ctl.buf;
  if (af == AF_INET6) {
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    if (inet_pton(AF_INET6, srca, &pi.ipi6_addr) != 1) return num(env, EINVAL);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  } else {
    struct in_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    if (inet_pton(AF_INET, srca, &pi.ipi_spec_dst) != 1) return num(env, EINVAL);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return num(env, n < 0 ? errno : 0);
}

/* fwdRaiseNofile(): [soft, hard] — raises the soft RLIMIT_NOFILE to the hard limit first. */
static napi_value js_fwd_raise_nofile(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return throw_errno(env, errno, "getrlimit", NULL);
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit up = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0) rl = up;
  }
  napi_value s, h;
  CHECK(env, napi_create_double(env, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur, &s));
  CHECK(env, napi_create_double(env, rl.rlim_max == RLIM_INFINITY ? -1 : (double)rl.rlim_max, &h));
  return pair(env, s, h);
}

bool bdy_fwd_exports(napi_env env, napi_value exports) {
  static const bdy_export fns[] = {
      {"fwdListen", js_fwd_listen},           {"fwdUdpOpen", js_fwd_udp_open},
      {"fwdOriginalDst", js_fwd_original_dst}, {"fwdUdpRecv", js_fwd_udp_recv},
      {"fwdUdpSend", js_fwd_udp_send},         {"fwdRaiseNofile", js_fwd_raise_nofile},
  };
  return DEFINE_EXPORTS(env, exports, fns);
}
