# network/: CIDRs, DHCP ranges, network names and keys, dnsmasq and nft rendering, lease files.
cairn_fuzzer(fuzz_network ${CMAKE_SOURCE_DIR}/network/cidr.c ${CMAKE_SOURCE_DIR}/network/spec.c)
