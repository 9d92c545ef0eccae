// Poll: a libuv poll watcher on one fd, so JS hears when an eventfd or a socket becomes readable,
// writable or hung up, from the event loop, without blocking.
//
//   const p = new Poll(fd, (error, events) => ...);  // error: null or an errno name
//   p.start(POLL_READABLE | POLL_DISCONNECT); p.stop(); p.ref(); p.unref(); p.close();
//
// Lifetime: a started watcher keeps its JS object alive (a strong reference), so callbacks keep
// coming after the caller drops it; a stopped one is only weakly held and is closed when
// collected. close() releases the fd for close(). When the thread's Node environment ends, an
// async cleanup hook closes the libuv handle before the loop is torn down. The C struct is freed
// once both the libuv close callback and the JS finalizer have run, in whichever order.
#include "common.h"
#include "watched-fds.h"

#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;  // weak while stopped, strong while started
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  int fd;
  bool started, closing, closed, finalized;
} poll_t;

static void on_close(uv_handle_t *handle) {
  poll_t *p = handle->data;
  p->closed = true;
  if (p->cleanup != NULL) {
    napi_remove_async_cleanup_hook(p->cleanup);
    p->cleanup = NULL;
  }
  if (p->finalized) free(p);
}

static void stop(poll_t *p) {
  uv_poll_stop(&p->handle);
  if (p->started && p->self != NULL) napi_reference_unref(p->env, p->self, NULL);
  p->started = false;
}

static void begin_close(poll_t *p) {
  if (p->closing) return;
  stop(p);
  p->closing = true;
  vqn_unwatch_fd(p->fd);
  if (p->async != NULL) napi_async_destroy(p->env, p->async);
  p->async = NULL;
  uv_close((uv_handle_t *)&p->handle, on_close);
}

static void on_teardown(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  begin_close(arg);  // on_close removes the hook, which lets the teardown go on
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  poll_t *p = data;
  p->finalized = true;
  if (p->self != NULL) napi_delete_reference(env, p->self);
  p->self = NULL;
  if (!p->closing) begin_close(p);
  else if (p->closed) free(p);
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  poll_t *p = handle->data;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (p->closing || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL, callback, argv[2], result;
  if (napi_get_reference_value(env, p->self, &self) == napi_ok && self != NULL &&
      napi_get_named_property(env, self, "callback", &callback) == napi_ok) {
    if (status < 0) napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &argv[0]);
    else napi_get_null(env, &argv[0]);
    napi_create_int32(env, status < 0 ? 0 : events, &argv[1]);
    if (napi_make_callback(env, p->async, self, callback, 2, argv, &result) == napi_pending_exception) {
      // As for any callback from the event loop: an exception is an uncaught exception.
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static poll_t *unwrap(napi_env env, napi_callback_info info, const char *fn, napi_value *argv, size_t argc) {
  napi_value self;
  poll_t *p = NULL;
  if (!vqn_args(env, info, argc, argv, &self, fn)) return NULL;
  if (napi_unwrap(env, self, (void **)&p) != napi_ok || p == NULL) {
    vqn_throw_type(env, "%s: not a Poll", fn);
    return NULL;
  }
  return p;
}

static napi_value construct(napi_env env, napi_callback_info info) {
  napi_value argv[2], self, target;
  int fd;
  VQN_CALL(env, napi_get_new_target(env, info, &target), NULL);
  if (target == NULL) return vqn_throw_type(env, "Poll: use `new Poll(fd, callback)`");
  if (!vqn_args(env, info, 2, argv, &self, "Poll")) return NULL;
  if (!vqn_fd(env, argv[0], "Poll", &fd) || !vqn_function(env, argv[1], "Poll", "callback")) return NULL;
  uv_loop_t *loop;
  VQN_CALL(env, napi_get_uv_event_loop(env, &loop), NULL);
  int watched = vqn_watch_fd(fd);
  if (watched != 0) {
    return watched > 0 ? vqn_throw_code(env, "EBUSY", "Poll: fd %d already has a watcher", fd)
                       : vqn_throw_code(env, "ENOMEM", "Poll: out of memory");
  }
  poll_t *p = calloc(1, sizeof *p);
  int rc = p == NULL ? UV_ENOMEM : uv_poll_init(loop, &p->handle, fd);  // also makes fd non-blocking
  if (rc < 0) {
    free(p);
    vqn_unwatch_fd(fd);
    return vqn_throw_errno(env, -rc, "poll fd %d", fd);
  }
  p->handle.data = p;
  p->env = env;
  p->fd = fd;
  napi_property_descriptor cb = {"callback", NULL, NULL, NULL, NULL, argv[1], napi_default, NULL};
  if (napi_define_properties(env, self, 1, &cb) != napi_ok ||
      napi_wrap(env, self, p, on_finalize, NULL, NULL) != napi_ok) {
    p->finalized = true;  // never wrapped: nothing else will free it
    begin_close(p);
    return vqn_throw_code(env, "ERR_NAPI", "Poll: wrapping fd %d failed", fd);
  }
  // From here the finalizer owns the struct together with on_close.
  napi_value name;
  if (napi_create_reference(env, self, 0, &p->self) != napi_ok ||
      napi_create_string_utf8(env, "virtqueue:Poll", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &p->async) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_teardown, p, &p->cleanup) != napi_ok) {
    begin_close(p);
    return vqn_throw_code(env, "ERR_NAPI", "Poll: setting up fd %d failed", fd);
  }
  return self;
}

static napi_value start_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t events;
  poll_t *p = unwrap(env, info, "Poll.start", argv, 1);
  if (p == NULL) return NULL;
  if (!vqn_int(env, argv[0], "Poll.start", "events", 1, UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events)) {
    return NULL;
  }
  if (p->closing) return vqn_throw_code(env, "ERR_CLOSED", "Poll.start: fd %d: the watcher is closed", p->fd);
  int rc = uv_poll_start(&p->handle, (int)events, on_poll);
  if (rc < 0) return vqn_throw_errno(env, -rc, "poll fd %d", p->fd);
  if (!p->started) napi_reference_ref(env, p->self, NULL);
  p->started = true;
  return vqn_undefined(env);
}

static napi_value stop_js(napi_env env, napi_callback_info info) {
  poll_t *p = unwrap(env, info, "Poll.stop", NULL, 0);
  if (p == NULL) return NULL;
  if (!p->closing) stop(p);
  return vqn_undefined(env);
}

static napi_value close_js(napi_env env, napi_callback_info info) {
  poll_t *p = unwrap(env, info, "Poll.close", NULL, 0);
  if (p == NULL) return NULL;
  begin_close(p);
  return vqn_undefined(env);
}

// ref()/unref(): whether a started watcher keeps the event loop (the process) running.
static napi_value ref_js(napi_env env, napi_callback_info info) {
  poll_t *p = unwrap(env, info, "Poll.ref", NULL, 0);
  if (p == NULL) return NULL;
  if (!p->closing) uv_ref((uv_handle_t *)&p->handle);
  return vqn_undefined(env);
}

static napi_value unref_js(napi_env env, napi_callback_info info) {
  poll_t *p = unwrap(env, info, "Poll.unref", NULL, 0);
  if (p == NULL) return NULL;
  if (!p->closing) uv_unref((uv_handle_t *)&p->handle);
  return vqn_undefined(env);
}

bool vqn_init_poll(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", NULL, start_js, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, stop_js, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, close_js, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, ref_js, NULL, NULL, NULL, napi_default, NULL},
      {"unref", NULL, unref_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  VQN_CALL(env, napi_define_class(env, "Poll", NAPI_AUTO_LENGTH, construct, NULL,
                                  sizeof methods / sizeof methods[0], methods, &cls), false);
  return vqn_set(env, exports, "Poll", cls) &&
         vqn_set(env, exports, "POLL_READABLE", vqn_number(env, UV_READABLE)) &&
         vqn_set(env, exports, "POLL_WRITABLE", vqn_number(env, UV_WRITABLE)) &&
         vqn_set(env, exports, "POLL_DISCONNECT", vqn_number(env, UV_DISCONNECT));
}
