# Finds xxHash as shipped by Debian's libxxhash-dev, which has no CMake config.
# Defines XXHash_FOUND, XXHash_VERSION, the imported target xxHash::xxhash, and
# XXHash_HAS_X86_DISPATCH when the library exports xxh_x86dispatch's runtime-dispatched entry
# points (XXH3_128bits_dispatch: AVX-512 / AVX2 / SSE2 chosen by CPU), as Debian's does.
find_path(XXHASH_INCLUDE_DIR xxhash.h)
find_library(XXHASH_LIBRARY xxhash)
if(XXHASH_INCLUDE_DIR)
  foreach(_p MAJOR MINOR RELEASE)
    file(STRINGS "${XXHASH_INCLUDE_DIR}/xxhash.h" _xxh_line
         REGEX "^#define XXH_VERSION_${_p} +[0-9]+")
    string(REGEX REPLACE "^#define XXH_VERSION_${_p} +([0-9]+).*" "\\1" _xxh_${_p} "${_xxh_line}")
  endforeach()
  set(XXHash_VERSION "${_xxh_MAJOR}.${_xxh_MINOR}.${_xxh_RELEASE}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(XXHash
  REQUIRED_VARS XXHASH_INCLUDE_DIR XXHASH_LIBRARY
  VERSION_VAR XXHash_VERSION)
if(XXHash_FOUND)
  include(CheckLibraryExists)
  check_library_exists("${XXHASH_LIBRARY}" XXH3_128bits_dispatch "" XXHash_HAS_X86_DISPATCH)
endif()
if(XXHash_FOUND AND NOT TARGET xxHash::xxhash)
  add_library(xxHash::xxhash UNKNOWN IMPORTED)
  set_target_properties(xxHash::xxhash PROPERTIES
    IMPORTED_LOCATION "${XXHASH_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${XXHASH_INCLUDE_DIR}")
endif()
mark_as_advanced(XXHASH_INCLUDE_DIR XXHASH_LIBRARY)
