{
  "targets": [
    {
      "target_name": "virtqueue_native",
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.c",
            "native/common.c",
            "native/fd.c",
            "native/memory-view.c",
            "native/mapping-registry.c",
            "native/mapping.c",
            "native/eventfd.c",
            "native/watched-fds.c",
            "native/poll.c",
            "native/unix.c",
            "native/unix-msg.c"
          ],
          "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wshadow"],
          "libraries": ["-lpthread"]
        }, {
          "sources": ["native/unsupported.c"]
        }]
      ]
    }
  ]
}
