/* bindery_native: run a piece of work inside a named network namespace on a short-lived thread. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bindery.h"

/* Records a failure in `st` and returns -1. */
int bdy_fail(bdy_status *st, int err, const char *syscall, const char *detail) {
  st->err = err;
  st->syscall = syscall;
  snprintf(st->detail, sizeof st->detail, "%s", detail ? detail : "");
  return -1;
}

/* What the namespace thread needs: the namespace file, the work and where results go. */
typedef struct {
  const char *path;
  bdy_netns_fn fn;
  void *arg;
  bdy_status *st;
} netns_job;

/*
 * Thread body: setns(CLONE_NEWNET) affects only this thread, so the work runs in the target
 * namespace while the event-loop thread stays where it is. Sockets and taps created here keep the
 * namespace they were created in after the thread exits.
 */
static void *netns_thread(void *p) {
  netns_job *job = p;
  int nsfd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    bdy_fail(job->st, errno, "open", job->path);
    return NULL;
  }
  if (setns(nsfd, CLONE_NEWNET) < 0) {
    int e = errno;
    close(nsfd);
    bdy_fail(job->st, e, "setns", job->path);
    return NULL;
  }
  close(nsfd);
  job->fn(job->arg, job->st);
  return NULL;
}

/* Runs fn(arg) in `netns` (name under /run/netns or absolute path); NULL or "": in this thread. */
int bdy_run_in_netns(const char *netns, bdy_netns_fn fn, void *arg, bdy_status *st) {
  if (netns == NULL || netns[0] == '\0') return fn(arg, st);

  char path[512];
  int n;
  if (netns[0] == '/') {
    n = snprintf(path, sizeof path, "%s", netns);
  } else {
    /* A bare name must not escape /run/netns. */
    if (strchr(netns, '/') != NULL || strcmp(netns, ".") == 0 || strcmp(netns, "..") == 0)
      return bdy_fail(st, EINVAL, "open", netns);
    n = snprintf(path, sizeof path, "/run/netns/%s", netns);
  }
  if (n < 0 || (size_t)n >= sizeof path) return bdy_fail(st, ENAMETOOLONG, "open", netns);

  netns_job job = {path, fn, arg, st};
  /* The helper thread starts with every signal blocked: Node's handlers stay on its own threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int rc = pthread_create(&thread, NULL, netns_thread, &job);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) return bdy_fail(st, rc, "pthread_create", netns);
  pthread_join(thread, NULL);
  return st->err != 0 ? -1 : 0;
}
