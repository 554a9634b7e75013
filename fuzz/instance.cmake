# instance/: unpacking image tarballs (instance_image_unpack), which parses metadata.yaml too.
cairn_fuzzer(fuzz_unpack ${CMAKE_SOURCE_DIR}/instance/image.c ${CMAKE_SOURCE_DIR}/config/yaml.c
  LIBS PkgConfig::ARCHIVE PkgConfig::YAML)
