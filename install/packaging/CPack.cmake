# The Debian package of Portcullis: `cpack -G DEB` in a configured and built build directory.
#
#   cmake -S . -B build-deb -G Ninja -DPORTCULLIS_TESTS=OFF && ninja -C build-deb
#   (cd build-deb && cpack -G DEB)       # portcullis_<version>-1_<arch>.deb
#
# It holds the gate (/usr/bin/portcullis, and /usr/bin/portcullis-hook, which the installed Git
# hooks run), the reconciler (/usr/bin/portcullisd), our JSON
# Schemas (/usr/share/portcullis/schemas), example configs under /etc/portcullis (conffiles:
# dpkg keeps an administrator's edits on upgrade) and a hardened systemd unit that is shipped
# disabled. The maintainer scripts in debian/ create the system user `portcullis` and its
# directories, and remove both on purge. Depends are computed by dpkg-shlibdeps (dpkg-dev).
#
# The files only the package installs are in the component `packaging`, excluded from a plain
# `cmake --install`, so that a developer install never writes to /etc.

set(PORTCULLIS_PACKAGE_VERSION_SUFFIX "" CACHE STRING
  "Appended to the package's upstream version, e.g. +git20260101 or ~rc1 (dpkg orders ~ before the release)")
set(PORTCULLIS_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the package")

set(_portcullis_pkg ${CMAKE_CURRENT_LIST_DIR})

install(FILES ${_portcullis_pkg}/portcullisd.service
  DESTINATION lib/systemd/system COMPONENT packaging EXCLUDE_FROM_ALL)
install(FILES ${_portcullis_pkg}/etc/server.yaml ${_portcullis_pkg}/etc/daemon.yaml
  DESTINATION /etc/portcullis COMPONENT packaging EXCLUDE_FROM_ALL)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/install/kubernetes/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/portcullis/kubernetes COMPONENT packaging EXCLUDE_FROM_ALL
  FILES_MATCHING PATTERN "*.yaml")
install(PROGRAMS ${PROJECT_SOURCE_DIR}/install/kubernetes/rbac-for-kinds.sh
  DESTINATION ${CMAKE_INSTALL_DATADIR}/portcullis/kubernetes COMPONENT packaging EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/README.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT packaging EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME portcullis)
set(CPACK_PACKAGE_VENDOR "Portcullis")
set(CPACK_PACKAGE_CONTACT "Portcullis maintainers <maintainers@portcullis.invalid>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}${PORTCULLIS_PACKAGE_VERSION_SUFFIX}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "GitOps gate for Git servers and reconciler for Kubernetes")
set(CPACK_PACKAGE_DESCRIPTION "Portcullis makes a self-hosted Git server the control point of GitOps. \
The gate (portcullis) is a pre-receive hook that lets into Git only what is valid, owned and \
promoted. The reconciler (portcullisd) makes Kubernetes clusters match Git and prunes only \
what it applied itself. Its systemd unit is installed disabled.")
set(CPACK_STRIP_FILES ON)

# One package holding the default component (binaries, schemas) and `packaging`; an install()
# rule with another COMPONENT must be added here to reach the package.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified packaging)

set(CPACK_DEBIAN_PACKAGE_NAME portcullis)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${PORTCULLIS_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Added to what dpkg-shlibdeps computes: postinst creates the user with adduser.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "git, openssh-client")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_portcullis_pkg}/debian/conffiles
  ${_portcullis_pkg}/debian/postinst
  ${_portcullis_pkg}/debian/prerm
  ${_portcullis_pkg}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# `cpack --config CPackSourceConfig.cmake`: the sources without Git metadata and build trees.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\.git/" "/build[^/]*/" "/\\.cache/")

include(CPack)
