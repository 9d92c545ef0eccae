// The process-wide set of fds that have a poll watcher: one watcher per fd (libuv would deliver
// a second watcher's events to the first), and close() refuses an fd still being watched.
#include "common.h"
#include "watched-fds.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int *fds = NULL;
static size_t count = 0, capacity = 0;

static size_t index_of(int fd) {
  for (size_t i = 0; i < count; i++) if (fds[i] == fd) return i;
  return count;
}

int vqn_watch_fd(int fd) {
  int rc = 0;
  pthread_mutex_lock(&lock);
  if (index_of(fd) < count) {
    rc = 1;
  } else {
    if (count == capacity) {
      size_t next = capacity ? capacity * 2 : 16;
      int *grown = realloc(fds, next * sizeof *fds);
      if (grown == NULL) rc = -1;
      else fds = grown, capacity = next;
    }
    if (rc == 0) fds[count++] = fd;
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

void vqn_unwatch_fd(int fd) {
  pthread_mutex_lock(&lock);
  size_t i = index_of(fd);
  if (i < count) fds[i] = fds[--count];
  pthread_mutex_unlock(&lock);
}

bool vqn_fd_watched(int fd) {
  pthread_mutex_lock(&lock);
  bool watched = index_of(fd) < count;
  pthread_mutex_unlock(&lock);
  return watched;
}
