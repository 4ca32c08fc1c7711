# CrossChatPackaging.cmake — CPack settings for the Debian packages.
#
# Two packages from two install components:
#   crosschat        (component "crosschat"): /usr/bin/crosschat, /etc/crosschat/crosschat.properties
#   crosschat-relay  (component "relay"):     /usr/bin/crosschat-relay, /etc/crosschat/crosschat-relay.properties,
#                    its systemd unit, the Prometheus alert rules and the reverse-proxy examples
# The libraries, headers and CMake package (component "Development") are not packaged.
#
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DCROSSCHAT_BUILD_TESTS=OFF
#   cmake --build build-deb -j2 --target crosschat crosschat-relay
#   (cd build-deb && cpack -G DEB)      # crosschat_0.1.0-1_amd64.deb, crosschat-relay_0.1.0-1_amd64.deb
#
# The prefix must be /usr: GNUInstallDirs then puts the configuration under /etc, which is where
# the programs look for it (their compiled-in CROSSCHAT_SYSCONFDIR).

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
	message(STATUS "Packaging: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; configure with "
		"-DCMAKE_INSTALL_PREFIX=/usr to build Debian packages that use /etc/crosschat")
endif()

set(CPACK_PACKAGE_NAME crosschat)
set(CPACK_PACKAGE_VENDOR "the CrossChat authors")
set(CPACK_PACKAGE_CONTACT "CrossChat maintainers <crosschat@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_GENERATOR DEB)
set(CPACK_COMPONENTS_ALL crosschat relay)
set(CPACK_DEB_COMPONENT_INSTALL ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files' libraries (dpkg-shlibdeps, in dpkg-dev): libc6, libstdc++6,
# libssl3, libpoco*80, libminiupnpc17, libnatpmp1 on Debian 12.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_CROSSCHAT_PACKAGE_NAME crosschat)
set(CPACK_DEBIAN_CROSSCHAT_PACKAGE_SECTION net)
# Verifying an https:// relay against the system trust store.
set(CPACK_DEBIAN_CROSSCHAT_PACKAGE_RECOMMENDS "ca-certificates")
# The first line is the synopsis, the rest the long description.
string(CONCAT CPACK_DEBIAN_CROSSCHAT_DESCRIPTION
	"peer-to-peer console chat with end-to-end TLS\n"
	"Console chat between peers identified by keys (no accounts). Peers on a LAN find each other\n"
	"by signed announcements; across networks through a crosschat-relay, directly when the NATs\n"
	"allow it (port mapping, TCP hole punching) or through a relay tunnel. Messages are end-to-end\n"
	"TLS 1.3, pinned to peer IDs. /etc/crosschat/crosschat.properties sets a relay for all users.")

set(CPACK_DEBIAN_RELAY_PACKAGE_NAME crosschat-relay)
set(CPACK_DEBIAN_RELAY_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RELAY_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RELAY_PACKAGE_SUGGESTS "nginx | haproxy, prometheus")
string(CONCAT CPACK_DEBIAN_RELAY_DESCRIPTION
	"relay server for CrossChat peers on different networks\n"
	"Peers announce themselves and look each other up by peer ID, keep a control channel, and\n"
	"fall back to a forwarding tunnel that carries their end-to-end TLS (the relay cannot read\n"
	"it). Runs as the system user crosschat-relay under a sandboxed systemd unit; settings in\n"
	"/etc/crosschat/crosschat-relay.properties; Prometheus alert rules in\n"
	"/usr/share/crosschat-relay/prometheus.")

# Maintainer scripts and conffiles (CPack does not mark /etc files as conffiles by itself).
configure_file(${PROJECT_SOURCE_DIR}/Samples/ConsoleChat/debian/conffiles.in
	${PROJECT_BINARY_DIR}/debian/crosschat/conffiles @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/Samples/RelayServer/debian/conffiles.in
	${PROJECT_BINARY_DIR}/debian/crosschat-relay/conffiles @ONLY)
foreach(script postinst prerm postrm)
	configure_file(${PROJECT_SOURCE_DIR}/Samples/RelayServer/debian/${script}
		${PROJECT_BINARY_DIR}/debian/crosschat-relay/${script} COPYONLY)
endforeach()
set(CPACK_DEBIAN_CROSSCHAT_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian/crosschat/conffiles)
set(CPACK_DEBIAN_RELAY_PACKAGE_CONTROL_EXTRA
	${PROJECT_BINARY_DIR}/debian/crosschat-relay/conffiles
	${PROJECT_BINARY_DIR}/debian/crosschat-relay/postinst
	${PROJECT_BINARY_DIR}/debian/crosschat-relay/prerm
	${PROJECT_BINARY_DIR}/debian/crosschat-relay/postrm)

include(CPack)
cpack_add_component(crosschat DISPLAY_NAME "crosschat")
cpack_add_component(relay DISPLAY_NAME "crosschat-relay")
