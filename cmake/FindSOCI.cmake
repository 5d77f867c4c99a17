# FindSOCI
# --------
# Finds SOCI 4.x as Debian packages it (libsoci-dev ships neither a CMake config nor a pkg-config file).
#
# Imported targets:
#   SOCI::core        libsoci_core
#   SOCI::postgresql  libsoci_postgresql, with libpq's include directories
#   SOCI::mysql       libsoci_mysql, with MariaDB Connector/C's include directories
#
# Result variables: SOCI_FOUND, SOCI_VERSION, SOCI_INCLUDE_DIR,
#                   SOCI_CORE_LIBRARY, SOCI_POSTGRESQL_LIBRARY, SOCI_MYSQL_LIBRARY.

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LIBPQ QUIET libpq)
  pkg_check_modules(PC_LIBMARIADB QUIET libmariadb)
endif()

find_path(SOCI_INCLUDE_DIR NAMES soci/soci.h)
find_library(SOCI_CORE_LIBRARY NAMES soci_core)
find_library(SOCI_POSTGRESQL_LIBRARY NAMES soci_postgresql)
find_library(SOCI_MYSQL_LIBRARY NAMES soci_mysql)
find_path(SOCI_LIBPQ_INCLUDE_DIR NAMES libpq-fe.h HINTS ${PC_LIBPQ_INCLUDE_DIRS} PATH_SUFFIXES postgresql)
find_path(SOCI_MYSQL_INCLUDE_DIR NAMES mysql.h HINTS ${PC_LIBMARIADB_INCLUDE_DIRS} PATH_SUFFIXES mariadb mysql)

if(SOCI_INCLUDE_DIR AND EXISTS "${SOCI_INCLUDE_DIR}/soci/version.h")
  file(STRINGS "${SOCI_INCLUDE_DIR}/soci/version.h" _soci_version_line REGEX "^#define[ \t]+SOCI_VERSION[ \t]+[0-9]+")
  string(REGEX REPLACE ".*SOCI_VERSION[ \t]+([0-9]+).*" "\\1" _soci_version_num "${_soci_version_line}")
  math(EXPR _soci_major "${_soci_version_num} / 100000")
  math(EXPR _soci_minor "${_soci_version_num} / 100 % 1000")
  math(EXPR _soci_patch "${_soci_version_num} % 100")
  set(SOCI_VERSION "${_soci_major}.${_soci_minor}.${_soci_patch}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCI
  REQUIRED_VARS SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY SOCI_MYSQL_LIBRARY SOCI_INCLUDE_DIR
                SOCI_LIBPQ_INCLUDE_DIR SOCI_MYSQL_INCLUDE_DIR
  VERSION_VAR SOCI_VERSION)

if(SOCI_FOUND)
  if(NOT TARGET SOCI::core)
    add_library(SOCI::core SHARED IMPORTED)
    set_target_properties(SOCI::core PROPERTIES
      IMPORTED_LOCATION "${SOCI_CORE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${CMAKE_DL_LIBS}")
  endif()
  if(NOT TARGET SOCI::postgresql)
    add_library(SOCI::postgresql SHARED IMPORTED)
    set_target_properties(SOCI::postgresql PROPERTIES
      IMPORTED_LOCATION "${SOCI_POSTGRESQL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_LIBPQ_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES SOCI::core)
  endif()
  if(NOT TARGET SOCI::mysql)
    add_library(SOCI::mysql SHARED IMPORTED)
    set_target_properties(SOCI::mysql PROPERTIES
      IMPORTED_LOCATION "${SOCI_MYSQL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${SOCI_MYSQL_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES SOCI::core)
  endif()
endif()

mark_as_advanced(SOCI_INCLUDE_DIR SOCI_CORE_LIBRARY SOCI_POSTGRESQL_LIBRARY SOCI_MYSQL_LIBRARY
                 SOCI_LIBPQ_INCLUDE_DIR SOCI_MYSQL_INCLUDE_DIR)
