# Builds native/build/Release/tap.node from tap.c (see native-notes.md). Linux only: the TAP device
# is /dev/net/tun. Built by scripts/build-native.mjs at `npm install`.
{
  "targets": [
    {
      "target_name": "tap",
      "sources": ["tap.c"],
      "conditions": [
        ["OS=='linux'", {
          "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
        }]
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"]
    }
  ]
}
