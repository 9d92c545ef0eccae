{
  # `npm run build:native` builds virtqueue_native (build/Release/virtqueue_native.node).
  # `npm run build:native:asan` configures with -Dvirtqueue_sanitize=1, which also builds the same
  # sources with AddressSanitizer and UBSan into build/Release/virtqueue_native_asan.node, from
  # objects of its own (obj.target/virtqueue_native_asan/), so the normal build is left as it was;
  # src/native/binding.ts loads it when VIRTQUEUE_NATIVE=asan, under LD_PRELOAD of the sanitizer
  # runtime (.ci/sanitize).
  "variables": {
    "virtqueue_sanitize%": 0,
    "virtqueue_sources": [
      "native/addon.c",
      "native/common.c",
      "native/fd.c",
      "native/memory-view.c",
      "native/mapping-registry.c",
      "native/mapping.c",
      "native/fault-guard.c",
      "native/memory-faults.c",
      "native/eventfd.c",
      "native/watched-fds.c",
      "native/poll.c",
      "native/unix.c",
      "native/unix-msg.c",
      "native/vfio-registry.c",
      "native/vfio.c",
      "native/vfio-dma.c",
      "native/vfio-mmio.c"
    ],
    "virtqueue_cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wshadow"]
  },
  "targets": [
    {
      "target_name": "virtqueue_native",
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["<@(virtqueue_sources)"],
          "cflags": ["<@(virtqueue_cflags)"],
          "libraries": ["-lpthread"]
        }, {
          "sources": ["native/unsupported.c"]
        }]
      ]
    },
    {
      "target_name": "virtqueue_native_asan",
      "conditions": [
        ["OS=='linux' and virtqueue_sanitize==1", {
          "defines": ["NAPI_VERSION=8"],
          "sources": ["<@(virtqueue_sources)"],
          "cflags": [
            "<@(virtqueue_cflags)", "-O1", "-g",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"
          ],
          "ldflags": ["-fsanitize=address,undefined"],
          "libraries": ["-lpthread"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
