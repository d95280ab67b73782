{
  "targets": [
    {
      "target_name": "splice_pump",
      "sources": ["splice_pump.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-lpthread"]
    }
  ]
}
