// Unix stream sockets, non-blocking and close-on-exec: listen (never over a live server),
// accept, connect. Sending and receiving with fds is in unix-msg.c; readiness comes from a poll
// watcher (poll.c) on the socket's fd.
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PATH_CAP sizeof(((struct sockaddr_un *)0)->sun_path)

static bool socket_path(napi_env env, napi_value v, const char *fn, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  return vqn_string(env, v, fn, "path", addr->sun_path, PATH_CAP);
}

static int new_socket(void) { return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

static int connect_to(int fd, const struct sockaddr_un *addr) {
  int rc;
  do rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr); while (rc < 0 && errno == EINTR);
  return rc < 0 ? errno : 0;
}

// Whatever is at the path must go before bind(); only a stale socket (nobody accepting) may.
static bool clear_path(napi_env env, const struct sockaddr_un *addr) {
  const char *path = addr->sun_path;
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT) return true;
    vqn_throw_errno(env, errno, "listen %s", path);
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    vqn_throw_errno(env, EEXIST, "listen %s: not a socket; refusing to replace it", path);
    return false;
  }
  int probe = new_socket();
  if (probe < 0) {
    vqn_throw_errno(env, errno, "listen %s: socket", path);
    return false;
  }
  int err = connect_to(probe, addr);
  close(probe);
  if (err == 0 || err == EAGAIN) {  // EAGAIN: a live server with a full backlog
    vqn_throw_errno(env, EADDRINUSE, "listen %s: a server is accepting there", path);
    return false;
  }
  if (err != ECONNREFUSED) {
    vqn_throw_errno(env, err, "listen %s: probing the existing socket", path);
    return false;
  }
  if (unlink(path) < 0 && errno != ENOENT) {
    vqn_throw_errno(env, errno, "listen %s: removing the stale socket", path);
    return false;
  }
  return true;
}

// unixListen(path, backlog, mode) -> fd. The socket file gets `mode` (e.g. 0600) between bind()
// and listen(): nobody can connect before listen(), so no peer gets in under wider permissions.
static napi_value listen_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct sockaddr_un addr;
  int64_t backlog, mode;
  if (!vqn_args(env, info, 3, argv, NULL, "listen")) return NULL;
  if (!socket_path(env, argv[0], "listen", &addr)) return NULL;
  if (!vqn_int(env, argv[1], "listen", "backlog", 1, 4096, &backlog)) return NULL;
  if (!vqn_int(env, argv[2], "listen", "mode", 0, 0777, &mode)) return NULL;
  if (addr.sun_path[0] == '\0') return vqn_throw_range(env, "listen: path is empty");
  if (!clear_path(env, &addr)) return NULL;
  int fd = new_socket();
  if (fd < 0) return vqn_throw_errno(env, errno, "listen %s: socket", addr.sun_path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int err = errno;
    close(fd);
    return vqn_throw_errno(env, err, "listen %s", addr.sun_path);
  }
  if (chmod(addr.sun_path, (mode_t)mode) < 0 || listen(fd, (int)backlog) < 0) {
    int err = errno;
    close(fd);
    unlink(addr.sun_path);
    return vqn_throw_errno(env, err, "listen %s", addr.sun_path);
  }
  return vqn_number(env, fd);
}

// unixAccept(fd) -> fd of the new connection, or null when none is waiting (EAGAIN)
static napi_value accept_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd, conn;
  if (!vqn_args(env, info, 1, argv, NULL, "accept")) return NULL;
  if (!vqn_fd(env, argv[0], "accept", &fd)) return NULL;
  do conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); while (conn < 0 && errno == EINTR);
  if (conn < 0 && (errno == EAGAIN || errno == ECONNABORTED)) return vqn_null(env);
  if (conn < 0) return vqn_throw_errno(env, errno, "accept fd %d", fd);
  return vqn_number(env, conn);
}

// unixConnect(path) -> fd. A Unix socket connects at once or not at all: ECONNREFUSED, ENOENT,
// or EAGAIN when the server's backlog is full.
static napi_value connect_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un addr;
  if (!vqn_args(env, info, 1, argv, NULL, "connect")) return NULL;
  if (!socket_path(env, argv[0], "connect", &addr)) return NULL;
  int fd = new_socket();
  if (fd < 0) return vqn_throw_errno(env, errno, "connect %s: socket", addr.sun_path);
  int err = connect_to(fd, &addr);
  if (err != 0) {
    close(fd);
    return vqn_throw_errno(env, err, "connect %s", addr.sun_path);
  }
  return vqn_number(env, fd);
}

bool vqn_init_unix(napi_env env, napi_value exports) {
  return vqn_export(env, exports, "unixListen", listen_js) &&
         vqn_export(env, exports, "unixAccept", accept_js) &&
         vqn_export(env, exports, "unixConnect", connect_js);
}
