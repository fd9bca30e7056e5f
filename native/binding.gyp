{
  "targets": [
    {
      "target_name": "sonde_native",
      "sources": [
        "src/addon.c",
        "src/errors.c",
        "src/object.c",
        "src/map.c",
        "src/ring.c",
        "src/netlink.c",
        "src/layouts.c",
        "src/layouts_tcp.c"
      ],
      "include_dirs": [
        "../build/libbpf/include",
        "../build/libbpf/include/uapi",
        "../bpf/include",
        "../bpf/probes",
        "../bpf/bench"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fexceptions"],
      "libraries": ["<(module_root_dir)/../build/libbpf/lib/libbpf.a", "-lelf", "-lz"]
    }
  ]
}
