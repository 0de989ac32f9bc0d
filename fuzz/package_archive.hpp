#pragma once
// A whole package directory in one byte string, so that one fuzz input is one package:
//
//   <manifest.toml text>
//   #@file <name> <size>\n<size bytes>\n
//   #@file ...
//
// The manifest is everything before the first line that starts with "#@file " (a TOML
// comment, so a seed stays readable). A file's bytes are the <size> bytes after its line (fewer
// when the input ends first). Names are single path components of [A-Za-z0-9._-] other than
// "." and ".."; a section with another name or an unreadable size is skipped up to the next
// "#@file " line.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::fuzz {

struct package_archive {
  std::string manifest;
  std::vector<std::pair<std::string, std::string>> files;  // name -> bytes
};

package_archive unpack_archive(std::string_view bytes);
std::string pack_archive(const package_archive& a);

// The archive of a package directory written by the project (manifest.toml plus every other
// regular file in it; the files in name order).
package_archive read_package_dir(const std::string& dir);

}  // namespace tessera::fuzz
