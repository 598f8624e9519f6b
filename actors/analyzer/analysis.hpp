// The analysis of a checked-out repository (docs/analyzer.md, the map's
// schema in docs/system-map.md): languages, modules, the dependencies
// between modules, declared external dependencies, entry points, tests, docs
// and the README's first paragraph.
//
//   analyse(root) ── walk (lstat: symlinks counted, never followed) ──► per file:
//        language + lines, imports, entry point?, test?, doc?, manifest?
//     ── modules (directories with a build manifest) ── resolve imports to
//        files, files to modules ──► edges ──► analysis
//
// Pure apart from reading the tree; no libgit2, no database.
#pragma once

#include "actors/analyzer/languages.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace troupe::analyzer {

struct analysis_limits {
  std::int64_t max_files = 200000;
  std::int64_t max_file_bytes = 1 << 20; // larger files are counted, not read
};

// The walk met more files than max_files, or was stopped.
struct limit_exceeded : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct analysis_stopped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct language_total {
  std::string name;
  std::int64_t files = 0;
  line_counts lines;
};

struct module_info {
  std::string path; // "." for the repository's root
  std::vector<std::string> manifests;
  std::int64_t files = 0;
  std::int64_t code = 0;
  std::map<std::string, std::int64_t> languages; // code lines by language
};

struct module_edge {
  std::string from;
  std::string to;
  std::int64_t imports = 0; // import statements that resolved from one to the other
};

struct external_dependency {
  std::string module;
  std::string manifest;
  std::string ecosystem; // cmake, npm, cargo, go, python, maven
  std::string name;
  std::string version;   // as declared; empty when none
};

struct entry_point {
  std::string path;
  std::string kind; // main, python-main, package-main, package-bin, script
};

struct totals {
  std::int64_t files = 0;
  std::int64_t bytes = 0;
  std::int64_t binary_files = 0;
  std::int64_t large_files = 0; // over max_file_bytes: counted, not read
  std::int64_t symlinks = 0;
  std::int64_t directories = 0;
  line_counts lines;
};

struct analysis {
  totals total;
  std::vector<language_total> languages; // most code first
  std::vector<module_info> modules;      // by path
  std::vector<module_edge> dependencies; // by (from, to)
  std::vector<external_dependency> external;
  std::vector<entry_point> entry_points; // by path
  std::vector<std::string> test_directories;
  std::int64_t test_files = 0;
  std::vector<std::string> doc_directories;
  std::vector<std::string> doc_files;
  std::string readme_path;
  std::string readme_summary;
};

// Analyses the tree under `root` (its `.git` directory left out). Checks
// `stop` for every file. Throws limit_exceeded or analysis_stopped.
analysis analyse(const std::filesystem::path& root, const analysis_limits& limits,
                 const std::atomic<bool>& stop);

// How many entries of each list a map holds at most (docs/system-map.md);
// what is left out is counted in the map's `omitted`.
namespace map_caps {
constexpr std::size_t modules = 1000;
constexpr std::size_t dependencies = 5000; // edges between listed modules
constexpr std::size_t external = 5000;
constexpr std::size_t entry_points = 1000;
constexpr std::size_t directories = 100;   // test and doc directories, each
constexpr std::size_t doc_paths = 100;
} // namespace map_caps

// The analysis as the map's JSON parts (docs/system-map.md).
nlohmann::json to_json(const analysis& a);

// The module graph of a stored map as a Mermaid flowchart.
std::string mermaid(const nlohmann::json& map);

} // namespace troupe::analyzer
