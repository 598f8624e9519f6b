// Build manifests: which files make a directory a module, and what they
// declare (external dependencies, the package's own name, entry points).
// Pure; a manifest that does not parse still marks its module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::analyzer {

struct manifest_info {
  std::string kind;      // the manifest's file name: CMakeLists.txt, package.json, …
  std::string dir;       // its directory ("" for the root)
  std::string ecosystem; // cmake, npm, cargo, go, python, maven, gradle
  std::vector<std::pair<std::string, std::string>> dependencies; // name, version ("" if none)
  std::string package_name; // npm package or crate name, when declared
  std::string go_module;    // go.mod's module path
  std::vector<std::pair<std::string, std::string>> entry_points; // kind, path relative to dir
};

// The manifest `name` in `dir` with content `text`, or nullopt when `name` is
// not a manifest's.
std::optional<manifest_info> read_manifest(std::string_view name, const std::string& dir,
                                           std::string_view text);

} // namespace troupe::analyzer
