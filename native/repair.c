/* bindery_native: TCP_REPAIR syscalls for flow hand-over, and the SCM_RIGHTS unix socket to the privileged repair helper. */
/*
 * Only syscalls live here; the order of the steps (dump, restore) is TypeScript
 * (usernet/flow/tcp/migrate.ts). Every call reports failure as an errno value (negative for
 * byte counts and sequence numbers), never by throwing, except creating the helper's listening
 * socket. Setting TCP_REPAIR needs CAP_NET_ADMIN: the translator never does it itself, it sends
 * the sockets to the helper (repairRequest), which sets or clears the mode on its copies of the
 * fds (repairSet) and answers. The other TCP_REPAIR_* options only need the socket to be in
 * repair mode, so the unprivileged translator can dump and restore once the helper has done that.
 *
 * Unix socket handles (the helper's listening socket and its connections) are tagged externals
 * like the TCP ones (tcp.c), with their own tag; a closed one answers EBADF.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "glue.h"

/* Most fds one request carries (the kernel's SCM_MAX_FD). */
#define REPAIR_MAX_FDS 253

static int sopt(int fd, int level, int name, int v) {
  return setsockopt(fd, level, name, &v, sizeof v) < 0 ? errno : 0;
}

/* repairSet(sock, mode): errno — TCP_REPAIR to 1 (on), 0 (off) or -1 (off, no window probe). */
static napi_value js_repair_set(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, mode;
  if (!get_int(env, argv[1], &mode, "mode must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  return num(env, sopt(fd, IPPROTO_TCP, TCP_REPAIR, mode));
}

/* repairQueue(sock, queue): errno — TCP_REPAIR_QUEUE (0 none, 1 receive, 2 send). */
static napi_value js_repair_queue(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, q;
  if (!get_int(env, argv[1], &q, "queue must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  return num(env, sopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, q));
}

/* repairSeq(sock): the selected queue's TCP_QUEUE_SEQ (0 … 2^32−1), or −errno. */
static napi_value js_repair_seq(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  uint32_t v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &v, &l) < 0) return num(env, -errno);
  return num(env, v);
}

/* repairSetSeq(sock, seq): errno — TCP_QUEUE_SEQ of the selected queue (before connect). */
static napi_value js_repair_set_seq(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t seq;
  if (!get_u32(env, argv[1], &seq, "seq must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  return num(env, setsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, sizeof seq) < 0 ? errno : 0);
}

/*
 * repairWindow(sock, out: Uint32Array(5)): errno — TCP_REPAIR_WINDOW as [snd_wl1, snd_wnd,
 * max_window, rcv_wnd, rcv_wup].
 */
static napi_value js_repair_window(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *out;
  size_t len;
  if (!get_u32s(env, argv[1], &out, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (len < 5) return num(env, EINVAL);
  struct tcp_repair_window w;
  socklen_t l = sizeof w;
  if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &l) < 0) return num(env, errno);
  out[0] = w.snd_wl1;
  out[1] = w.snd_wnd;
  out[2] = w.max_window;
  out[3] = w.rcv_wnd;
  out[4] = w.rcv_wup;
  return num(env, 0);
}

/* repairSetWindow(sock, w: Uint32Array(5)): errno — sets TCP_REPAIR_WINDOW (after connect). */
static napi_value js_repair_set_window(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *in;
  size_t len;
  if (!get_u32s(env, argv[1], &in, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (len < 5) return num(env, EINVAL);
  struct tcp_repair_window w = {
      .snd_wl1 = in[0], .snd_wnd = in[1], .max_window = in[2], .rcv_wnd = in[3], .rcv_wup = in[4]};
  return num(env, setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof w) < 0 ? errno : 0);
}

/*
 * repairSetOptions(sock, opts: Uint32Array): errno — TCP_REPAIR_OPTIONS from (code, value)
 * pairs (TCPOPT_MAXSEG 2, TCPOPT_WINDOW 3 with snd_wscale | rcv_wscale << 16, TCPOPT_SACK_PERM 4,
 * TCPOPT_TIMESTAMP 8).
 */
static napi_value js_repair_set_options(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *in;
  size_t len;
  if (!get_u32s(env, argv[1], &in, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (len % 2 != 0 || len > 16) return num(env, EINVAL);
  struct tcp_repair_opt o[8];
  for (size_t i = 0; i < len / 2; i++) {
    o[i].opt_code = in[2 * i];
    o[i].opt_val = in[2 * i + 1];
  }
  socklen_t l = (socklen_t)(sizeof o[0] * (len / 2));
  return num(env, setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, l) < 0 ? errno : 0);
}

/*
 * repairInfo(sock, out: Uint32Array(9)): errno — [tcpi_state, tcpi_options, tcpi_snd_wscale,
 * tcpi_rcv_wscale, TCP_MAXSEG (the clamp), TCP_TIMESTAMP, SIOCOUTQ, SIOCOUTQNSD, SIOCINQ].
 */
static napi_value js_repair_info(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t *out;
  size_t len;
  if (!get_u32s(env, argv[1], &out, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  if (len < 9) return num(env, EINVAL);
  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t tl = sizeof ti, il = sizeof(int);
  int mss = 0, ts = 0, outq = 0, nsd = 0, inq = 0;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 ||
      getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &il) < 0)
    return num(env, errno);
  il = sizeof(int);
  if ((ti.tcpi_options & TCPI_OPT_TIMESTAMPS) &&
      getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &il) < 0)
    return num(env, errno);
  if (ioctl(fd, SIOCOUTQ, &outq) < 0 || ioctl(fd, SIOCOUTQNSD, &nsd) < 0 ||
      ioctl(fd, SIOCINQ, &inq) < 0)
    return num(env, errno);
  out[0] = ti.tcpi_state;
  out[1] = ti.tcpi_options;
  out[2] = ti.tcpi_snd_wscale;
  out[3] = ti.tcpi_rcv_wscale;
  out[4] = (uint32_t)mss;
  out[5] = (uint32_t)ts;
  out[6] = (uint32_t)outq;
  out[7] = (uint32_t)nsd;
  out[8] = (uint32_t)inq;
  return num(env, 0);
}

/* repairSetTimestamp(sock, ts): errno — TCP_TIMESTAMP (RFC 7323 clock, repair mode). */
static napi_value js_repair_set_timestamp(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  uint32_t ts;
  if (!get_u32(env, argv[1], &ts, "ts must be a number")) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  return num(env, setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, sizeof ts) < 0 ? errno : 0);
}

/*
 * repairPeek(sock, buf: Uint8Array): bytes or −errno — copies the selected queue's contents
 * (recv MSG_PEEK in repair mode) into buf, SO_PEEK_OFF disabled first (it would offset the
 * receive queue's copy).
 */
static napi_value js_repair_peek(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  const uint8_t *buf;
  size_t len;
  if (!get_bytes(env, argv[1], &buf, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  int e = sopt(fd, SOL_SOCKET, SO_PEEK_OFF, -1);
  if (e != 0) return num(env, -e);
  if (len == 0) return num(env, 0);
  ssize_t n;
  do {
    n = recv(fd, (void *)buf, len, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) n = 0;
  return num(env, n < 0 ? -errno : n);
}

/* repairWrite(sock, data: Uint8Array): bytes or −errno — send() into the selected queue. */
static napi_value js_repair_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  const uint8_t *buf;
  size_t len;
  if (!get_bytes(env, argv[1], &buf, &len)) return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, -EBADF)) return r;
  ssize_t n;
  do {
    n = send(fd, buf, len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return num(env, n < 0 ? -errno : n);
}

/* tcpBind(sock, family, addr, port): errno — bind (a restored socket's address, in repair mode). */
static napi_value js_tcp_bind(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!bdy_tcp_addr_args(env, argv, &fd, &ss, &sl, &r)) return r;
  /* No SO_REUSEADDR here: it would replace the SK_FORCE_REUSE that repair mode sets, which is
   * what lets a restored socket share its port with a listener (a -t forward). */
  return num(env, bind(fd, (struct sockaddr *)&ss, sl) < 0 ? errno : 0);
}

/* Formats ss into buf and returns its port (v4-mapped IPv6 shown as IPv4). */
static int addr_str(const struct sockaddr_storage *ss, char *buf, size_t n) {
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
 * tcpSetBuffers(sock, sndbuf, rcvbuf): errno — SO_SNDBUF and SO_RCVBUF (0 leaves one as it is;
 * the kernel caps them at wmem_max/rmem_max): room for a restored queue.
 */
static napi_value js_tcp_set_buffers(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd, snd, rcv;
  if (!get_int(env, argv[1], &snd, "sndbuf must be a number") ||
      !get_int(env, argv[2], &rcv, "rcvbuf must be a number"))
    return NULL;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  int e = snd > 0 ? sopt(fd, SOL_SOCKET, SO_SNDBUF, snd) : 0;
  if (e == 0 && rcv > 0) e = sopt(fd, SOL_SOCKET, SO_RCVBUF, rcv);
  return num(env, e);
}

/* tcpAddrs(sock): [localAddr, localPort, peerAddr, peerPort] | errno (getsockname/getpeername). */
static napi_value js_tcp_addrs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (!bdy_tcp_arg_fd(env, argv[0], &fd, &r, EBADF)) return r;
  struct sockaddr_storage l, p;
  socklen_t ll = sizeof l, pl = sizeof p;
  if (getsockname(fd, (struct sockaddr *)&l, &ll) < 0 || getpeername(fd, (struct sockaddr *)&p, &pl) < 0)
    return num(env, errno);
  char lt[INET6_ADDRSTRLEN], pt[INET6_ADDRSTRLEN];
  int lport = addr_str(&l, lt, sizeof lt), pport = addr_str(&p, pt, sizeof pt);
  napi_value arr, v[4];
  CHECK(env, napi_create_array_with_length(env, 4, &arr));
  CHECK(env, napi_create_string_latin1(env, lt, NAPI_AUTO_LENGTH, &v[0]));
  CHECK(env, napi_create_int32(env, lport, &v[1]));
  CHECK(env, napi_create_string_latin1(env, pt, NAPI_AUTO_LENGTH, &v[2]));
  CHECK(env, napi_create_int32(env, pport, &v[3]));
  for (uint32_t i = 0; i < 4; i++) CHECK(env, napi_set_element(env, arr, i, v[i]));
  return arr;
}

/* ---------------------------------------------------------------------------------------------
 * The unix socket between the translator and the repair helper. */

typedef struct {
  int fd;
} unix_sock;

static const napi_type_tag UNIX_SOCK_TAG = {0x62696e6465727931ULL, 0x756e69787265706bULL};

static void unix_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  unix_sock *u = data;
  if (u->fd >= 0) close(u->fd);
  free(u);
}

static napi_value unix_new(napi_env env, int fd) {
  unix_sock *u = malloc(sizeof *u);
  if (u == NULL) {
    close(fd);
    return throw_errno(env, ENOMEM, "malloc", NULL);
  }
  u->fd = fd;
  return tagged_new(env, u, fd, unix_finalize, &UNIX_SOCK_TAG, NULL);
}

static unix_sock *unix_get(napi_env env, napi_value v) {
  return tagged_get(env, v, &UNIX_SOCK_TAG, "not a bindery unix socket handle");
}

static bool fill_un(const char *path, struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof a->sun_path) return false;
  strcpy(a->sun_path, path);
  return true;
}

/* Waits until fd is ready for `events` or timeoutMs passes: 0, ETIMEDOUT or errno. */
static int wait_fd(int fd, short events, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events};
  int n;
  do {
    n = poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  return n == 0 ? ETIMEDOUT : 0;
}

/*
 * unixListen(path, mode): handle — a listening SOCK_SEQPACKET unix socket at path with file
 * mode `mode` (e.g. 0o600). Throws SyscallError.
 */
static napi_value js_unix_listen(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[STR_MAX];
  int mode;
  if (!get_string(env, argv[0], path, false, "path must be a string") ||
      !get_int(env, argv[1], &mode, "mode must be a number"))
    return NULL;
  struct sockaddr_un a;
  if (!fill_un(path, &a)) return throw_errno(env, ENAMETOOLONG, "bind", path);
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", path);
  /* The mode applies from the start: no moment where the socket is open to everyone. */
  mode_t old = umask(0777 & ~(mode_t)mode);
  int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
  int e = errno;
  umask(old);
  if (rc < 0 || listen(fd, 16) < 0) {
    if (rc == 0) e = errno;
    close(fd);
    return throw_errno(env, e, rc < 0 ? "bind" : "listen", path);
  }
  return unix_new(env, fd);
}

/* unixAccept(listener, timeoutMs): handle | errno (ETIMEDOUT when nobody came). */
static napi_value js_unix_accept(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int timeout;
  unix_sock *l = unix_get(env, argv[0]);
  if (l == NULL || !get_int(env, argv[1], &timeout, "timeoutMs must be a number")) return NULL;
  if (l->fd < 0) return num(env, EBADF);
  int e = wait_fd(l->fd, POLLIN, timeout);
  if (e != 0) return num(env, e);
  int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return num(env, errno);
  return unix_new(env, fd);
}

/*
 * unixRecvFds(conn, timeoutMs): [cmd, socks: TcpHandle[]] | number — one request: a command byte
 * with up to REPAIR_MAX_FDS fds (SCM_RIGHTS), each wrapped as a TCP socket handle the caller
 * closes. A number: 0 when the peer closed, else an errno (ETIMEDOUT, EPROTO for a request of
 * the wrong shape: not one byte, no fds, truncated or foreign ancillary data; its fds are closed).
 */
static napi_value js_unix_recv_fds(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int timeout;
  unix_sock *c = unix_get(env, argv[0]);
  if (c == NULL || !get_int(env, argv[1], &timeout, "timeoutMs must be a number")) return NULL;
  if (c->fd < 0) return num(env, EBADF);
  int e = wait_fd(c->fd, POLLIN, timeout);
  if (e != 0) return num(env, e);
  uint8_t data[8];
  union {
    char buf[CMSG_SPACE(sizeof(int) * REPAIR_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
  struct msghdr mh = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do {
    n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return num(env, errno);
  if (n == 0) return num(env, 0);
  int fds[REPAIR_MAX_FDS], nfds = 0;
  bool bad = n != 1 || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
      bad = true;
      continue;
    }
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
      if (nfds < REPAIR_MAX_FDS)
        fds[nfds++] = fd;
      else
        close(fd);
    }
  }
  if (nfds == 0) bad = true;
  if (bad) {
    for (int i = 0; i < nfds; i++) close(fds[i]);
    return num(env, EPROTO);
  }
  napi_value arr, socks, cmd;
  int i = 0;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok ||
      napi_create_array_with_length(env, (size_t)nfds, &socks) != napi_ok ||
      napi_create_uint32(env, data[0], &cmd) != napi_ok)
    goto fail;
  for (; i < nfds; i++) {
    napi_value h = bdy_tcp_wrap(env, fds[i]); /* owns the fd from here, even on failure */
    if (h == NULL || napi_set_element(env, socks, (uint32_t)i, h) != napi_ok) {
      i++;
      goto fail;
    }
  }
  if (napi_set_element(env, arr, 0, cmd) != napi_ok || napi_set_element(env, arr, 1, socks) != napi_ok)
    return NULL;
  return arr;
fail:
  for (; i < nfds; i++) close(fds[i]);
  throw_napi(env);
  return NULL;
}

/* unixSendByte(conn, byte): errno — one status byte. */
static napi_value js_unix_send_byte(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int b;
  unix_sock *c = unix_get(env, argv[0]);
  if (c == NULL || !get_int(env, argv[1], &b, "byte must be a number")) return NULL;
  if (c->fd < 0) return num(env, EBADF);
  uint8_t v = (uint8_t)b;
  return num(env, send(c->fd, &v, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? errno : 0);
}

/* unixClose(handle): undefined — idempotent. */
static napi_value js_unix_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  unix_sock *c = unix_get(env, argv[0]);
  if (c == NULL) return NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  return NULL;
}

/*
 * repairRequest(path, cmd, socks: TcpHandle[], timeoutMs): status byte (0…255) or −errno — the
 * translator's side: connects to the helper at path, sends cmd with the sockets' fds (one
 * message, SCM_RIGHTS), waits up to timeoutMs for the one-byte answer, disconnects. Blocking
 * (bounded by timeoutMs): a hand-over has stopped the flows it concerns anyway.
 */
static napi_value js_repair_request(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[STR_MAX];
  int cmd, timeout;
  uint32_t n = 0;
  if (!get_string(env, argv[0], path, false, "path must be a string") ||
      !get_int(env, argv[1], &cmd, "cmd must be a number") ||
      !get_int(env, argv[3], &timeout, "timeoutMs must be a number"))
    return NULL;
  CHECK(env, napi_get_array_length(env, argv[2], &n));
  if (n == 0 || n > REPAIR_MAX_FDS) return num(env, -EINVAL);
  int fds[REPAIR_MAX_FDS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    CHECK(env, napi_get_element(env, argv[2], i, &el));
    fds[i] = bdy_tcp_fd(env, el);
    if (fds[i] == -2) return NULL;
    if (fds[i] < 0) return num(env, -EBADF);
  }
  struct sockaddr_un a;
  if (!fill_un(path, &a)) return num(env, -ENAMETOOLONG);
  int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s < 0) return num(env, -errno);
  struct timeval tv = {.tv_sec = timeout / 1000, .tv_usec = (timeout % 1000) * 1000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int e = 0;
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
    e = errno;
  } else {
    uint8_t c8 = (uint8_t)cmd;
    union {
      char buf[CMSG_SPACE(sizeof(int) * REPAIR_MAX_FDS)];
      struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {.iov_base = &c8, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    ssize_t w;
    do {
      w = sendmsg(s, &mh, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    if (w < 0) {
      e = errno;
    } else {
      uint8_t reply;
      ssize_t got;
      do {
        got = recv(s, &reply, 1, 0);
      } while (got < 0 && errno == EINTR);
      if (got < 0)
        e = errno == EAGAIN ? ETIMEDOUT : errno;
      else if (got == 0)
        e = ECONNRESET;
      else {
        close(s);
        return num(env, reply);
      }
    }
  }
  close(s);
  return num(env, -e);
}

bool bdy_repair_exports(napi_env env, napi_value exports) {
  static const bdy_export fns[] = {
      {"repairSet", js_repair_set},
      {"repairQueue", js_repair_queue},
      {"repairSeq", js_repair_seq},
      {"repairSetSeq", js_repair_set_seq},
      {"repairWindow", js_repair_window},
      {"repairSetWindow", js_repair_set_window},
      {"repairSetOptions", js_repair_set_options},
      {"repairInfo", js_repair_info},
      {"repairSetTimestamp", js_repair_set_timestamp},
      {"repairPeek", js_repair_peek},
      {"repairWrite", js_repair_write},
      {"tcpBind", js_tcp_bind},
      {"tcpAddrs", js_tcp_addrs},
      {"tcpSetBuffers", js_tcp_set_buffers},
      {"unixListen", js_unix_listen},
      {"unixAccept", js_unix_accept},
      {"unixRecvFds", js_unix_recv_fds},
      {"unixSendByte", js_unix_send_byte},
      {"unixClose", js_unix_close},
      {"repairRequest", js_repair_request},
  };
  return DEFINE_EXPORTS(env, exports, fns);
}
