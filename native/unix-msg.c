// Bytes and fds over a Unix stream socket (SCM_RIGHTS), non-blocking.
//
//   unixSend(fd, data, fds) -> bytes sent, or null (EAGAIN: wait until writable). The fds travel
//     with the first byte; the caller still owns (and may close) its copies afterwards.
//   unixReceive(fd, maxBytes, maxFds) -> { data, fds, closedFds, truncated }, or null (EAGAIN).
//     data.length 0 means the peer hung up. At most maxFds fds are returned (close-on-exec);
//     any more that arrived are closed here and counted in closedFds, never leaked. truncated is
//     MSG_CTRUNC: the kernel had more control data than fits (what did not fit it closed itself).
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 253  // SCM_MAX_FD: the most fds one message can carry
#define MAX_RECEIVE (16 << 20)

static bool fd_list(napi_env env, napi_value v, int *fds, uint32_t *n) {
  bool is_array = false;
  VQN_CALL(env, napi_is_array(env, v, &is_array), false);
  if (!is_array) {
    vqn_throw_type(env, "send: fds must be an array of fds");
    return false;
  }
  VQN_CALL(env, napi_get_array_length(env, v, n), false);
  if (*n > MAX_FDS) {
    vqn_throw_range(env, "send: %u fds, at most %d fit in one message", *n, MAX_FDS);
    return false;
  }
  for (uint32_t i = 0; i < *n; i++) {
    napi_value e;
    VQN_CALL(env, napi_get_element(env, v, i, &e), false);
    if (!vqn_fd(env, e, "send", &fds[i])) return false;
  }
  return true;
}

static napi_value send_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd, fds[MAX_FDS];
  uint32_t nfds = 0;
  void *data = NULL;
  size_t len = 0;
  bool is_typed = false;
  if (!vqn_args(env, info, 3, argv, NULL, "send")) return NULL;
  if (!vqn_fd(env, argv[0], "send", &fd)) return NULL;
  VQN_CALL(env, napi_is_typedarray(env, argv[1], &is_typed), NULL);
  if (!is_typed) return vqn_throw_type(env, "send: data must be a Uint8Array");
  napi_typedarray_type type;
  VQN_CALL(env, napi_get_typedarray_info(env, argv[1], &type, &len, &data, NULL, NULL), NULL);
  if (type != napi_uint8_array) return vqn_throw_type(env, "send: data must be a Uint8Array");
  if (!fd_list(env, argv[2], fds, &nfds)) return NULL;
  if (nfds > 0 && len == 0) return vqn_throw_range(env, "send: fds need at least one byte of data to travel with");

  struct iovec iov = {.iov_base = data, .iov_len = len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return vqn_null(env);
  if (n < 0) return vqn_throw_errno(env, errno, "send fd %d", fd);
  return vqn_number(env, (double)n);
}

// Splits the SCM_RIGHTS fds of `msg` into the first `max` (kept) and the rest (closed).
static void take_fds(struct msghdr *msg, int *kept, uint32_t max, uint32_t *nkept, uint32_t *nclosed) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (*nkept < max) kept[(*nkept)++] = got;
      else close(got), (*nclosed)++;
    }
  }
}

static napi_value result(napi_env env, const void *data, size_t len, const int *fds, uint32_t nfds,
                         uint32_t closed, bool truncated) {
  napi_value o, buf, list;
  VQN_CALL(env, napi_create_object(env, &o), NULL);
  VQN_CALL(env, napi_create_buffer_copy(env, len, data, NULL, &buf), NULL);
  VQN_CALL(env, napi_create_array_with_length(env, nfds, &list), NULL);
  for (uint32_t i = 0; i < nfds; i++) {
    VQN_CALL(env, napi_set_element(env, list, i, vqn_number(env, fds[i])), NULL);
  }
  if (!vqn_set(env, o, "data", buf) || !vqn_set(env, o, "fds", list) ||
      !vqn_set(env, o, "closedFds", vqn_number(env, closed)) ||
      !vqn_set(env, o, "truncated", vqn_bool(env, truncated))) {
    return NULL;
  }
  return o;
}

static napi_value receive_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  int64_t max_bytes, max_fds;
  if (!vqn_args(env, info, 3, argv, NULL, "receive")) return NULL;
  if (!vqn_fd(env, argv[0], "receive", &fd)) return NULL;
  if (!vqn_int(env, argv[1], "receive", "maxBytes", 1, MAX_RECEIVE, &max_bytes)) return NULL;
  if (!vqn_int(env, argv[2], "receive", "maxFds", 0, MAX_FDS, &max_fds)) return NULL;
  void *data = malloc((size_t)max_bytes);
  if (data == NULL) return vqn_throw_errno(env, ENOMEM, "receive fd %d", fd);
  // Room for the most fds a message can carry, whatever maxFds is: the extras are then ours to
  // close rather than the kernel's to drop silently.
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = (size_t)max_bytes};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    free(data);
    if (err == EAGAIN || err == EWOULDBLOCK) return vqn_null(env);
    return vqn_throw_errno(env, err, "receive fd %d", fd);
  }
  int kept[MAX_FDS];
  uint32_t nkept = 0, nclosed = 0;
  take_fds(&msg, kept, (uint32_t)max_fds, &nkept, &nclosed);
  napi_value o = result(env, data, (size_t)n, kept, nkept, nclosed, (msg.msg_flags & MSG_CTRUNC) != 0);
  free(data);
  if (o == NULL) {
    for (uint32_t i = 0; i < nkept; i++) close(kept[i]);  // nobody got them: do not leak them
  }
  return o;
}

bool vqn_init_unix_msg(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "unixSend", send_js) &&
         vqn_export(env, exports, "unixReceive", receive_js);
}
