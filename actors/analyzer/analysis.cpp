#include "actors/analyzer/analysis.hpp"

#include "actors/analyzer/imports.hpp"
#include "actors/analyzer/manifests.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

namespace troupe::analyzer {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// One file of the tree, as the walk found it.
struct file_record {
  std::string path; // relative, '/'-separated
  std::string dir;  // its directory ("" for the root)
  std::string language;
  line_counts lines;
  std::vector<import_ref> imports;
  std::string entry; // entry-point kind, or ""
};

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "a/b/../c/./d" → "a/c/d"; nullopt when it climbs above the root.
std::optional<std::string> normalize(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto part = path.substr(start, slash == std::string_view::npos ? path.size() - start
                                                                   : slash - start);
    if (part == "..") {
      if (parts.empty())
        return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty())
      out += '/';
    out += p;
  }
  return out;
}

std::string join(const std::string& dir, std::string_view rel) {
  return dir.empty() ? std::string{rel} : dir + "/" + std::string{rel};
}

std::string read_head(const fs::path& p, std::size_t max) {
  std::ifstream in{p, std::ios::binary};
  std::string out(max, '\0');
  in.read(out.data(), static_cast<std::streamsize>(max));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

const std::set<std::string> test_dir_names = {"test", "tests", "spec", "specs", "__tests__",
                                              "testing", "testdata"};
const std::set<std::string> doc_dir_names = {"doc", "docs", "documentation"};

bool is_test_file(const std::string& path) {
  auto name = lower(base_of(path));
  auto dir = dir_of(path);
  std::size_t start = 0;
  while (start <= dir.size() && !dir.empty()) {
    auto slash = dir.find('/', start);
    auto part = lower(dir.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (test_dir_names.count(part))
      return true;
    if (slash == std::string::npos)
      break;
    start = slash + 1;
  }
  return ends_with(name, "_test.go") || (name.rfind("test_", 0) == 0 && ends_with(name, ".py")) ||
         ends_with(name, "_test.py") || name.find(".test.") != std::string::npos ||
         name.find(".spec.") != std::string::npos || ends_with(name, "test.java") ||
         ends_with(name, "tests.java") || ends_with(name, "_test.cpp") ||
         ends_with(name, "_test.cc") || ends_with(name, "_test.c") || ends_with(name, "_test.rs");
}

bool is_doc_file(const std::string& path) {
  auto name = lower(base_of(path));
  return ends_with(name, ".md") || ends_with(name, ".rst") || ends_with(name, ".adoc");
}

// The first paragraph of prose of a README: blocks separated by blank lines;
// headings, images, badges, HTML, fences and rules are skipped.
std::string first_paragraph(std::string_view text) {
  std::vector<std::string> block;
  bool fence = false;
  auto flush = [&]() -> std::string {
    std::string out;
    for (const auto& l : block)
      out += (out.empty() ? "" : " ") + l;
    block.clear();
    return out;
  };
  std::size_t start = 0;
  while (start <= text.size()) {
    auto nl = text.find('\n', start);
    auto raw = text.substr(start, nl == std::string_view::npos ? text.size() - start : nl - start);
    start = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    std::string line{raw};
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    auto first = line.find_first_not_of(" \t");
    std::string l = first == std::string::npos ? "" : line.substr(first);
    if (l.rfind("```", 0) == 0 || l.rfind("~~~", 0) == 0) {
      fence = !fence;
      if (!block.empty())
        if (auto p = flush(); !p.empty())
          return p;
      continue;
    }
    if (fence)
      continue;
    bool skip = l.empty() || l[0] == '#' || l.rfind("![", 0) == 0 || l.rfind("[![", 0) == 0 ||
                l[0] == '<' || l.find_first_not_of("=-*_ ") == std::string::npos ||
                l.rfind("..", 0) == 0;
    if (skip) {
      // A setext underline makes the block above it a heading.
      if (!l.empty() && l.find_first_not_of("=-") == std::string::npos)
        block.clear();
      if (!block.empty())
        if (auto p = flush(); !p.empty())
          return p;
      continue;
    }
    block.push_back(l);
  }
  return flush();
}

// Where each file path is, for the imports' suffix lookups.
struct file_index {
  std::unordered_set<std::string> paths;
  std::unordered_map<std::string, std::vector<const std::string*>> by_name;
  std::unordered_map<std::string, std::vector<const std::string*>> by_dir; // files per directory

  void add(const std::string& path) {
    auto [it, fresh] = paths.insert(path);
    if (!fresh)
      return;
    by_name[base_of(*it)].push_back(&*it);
    by_dir[dir_of(*it)].push_back(&*it);
  }

  bool has(const std::string& path) const { return paths.count(path) > 0; }

  // A file whose path is `suffix` or ends with "/suffix"; the one nearest to
  // `near` (longest common prefix), then the shortest.
  std::optional<std::string> by_suffix(const std::string& suffix, const std::string& near) const {
    auto it = by_name.find(base_of(suffix));
    if (it == by_name.end())
      return std::nullopt;
    const std::string* best = nullptr;
    std::size_t best_common = 0;
    for (const auto* p : it->second) {
      if (!(*p == suffix || ends_with(*p, "/" + suffix)))
        continue;
      std::size_t common = 0;
      while (common < p->size() && common < near.size() && (*p)[common] == near[common])
        ++common;
      if (!best || common > best_common ||
          (common == best_common && p->size() < best->size())) {
        best = p;
        best_common = common;
      }
    }
    return best ? std::optional<std::string>{*best} : std::nullopt;
  }
};

// What an import resolved to: a file, or a module directory (a workspace
// package named by a bare specifier).
struct target {
  std::string file;
  std::string module_dir;
};

class resolver {
public:
  resolver(const file_index& files, const std::vector<manifest_info>& manifests)
      : files_(files) {
    for (const auto& m : manifests) {
      if (!m.package_name.empty()) {
        if (m.kind == "package.json")
          npm_packages_[m.package_name] = m.dir;
        if (m.kind == "Cargo.toml") {
          auto crate = m.package_name;
          std::replace(crate.begin(), crate.end(), '-', '_');
          crates_[crate] = m.dir;
        }
      }
      if (m.kind == "go.mod" && !m.go_module.empty())
        go_modules_.emplace_back(m.go_module, m.dir);
    }
  }

  std::vector<target> resolve(const file_record& f, const import_ref& r) const {
    switch (r.k) {
    case import_ref::kind::include_quoted:
      if (auto n = normalize(join(f.dir, r.spec)); n && files_.has(*n))
        return {{*n, ""}};
      [[fallthrough]];
    case import_ref::kind::include_angled:
      if (auto hit = files_.by_suffix(r.spec, f.path))
        return {{*hit, ""}};
      return {};
    case import_ref::kind::python:
      return python(r.spec, f.path);
    case import_ref::kind::python_relative: {
      std::string dir = f.dir;
      for (int i = 1; i < r.level; ++i)
        dir = dir_of(dir);
      auto rel = r.spec;
      std::replace(rel.begin(), rel.end(), '.', '/');
      for (const auto& candidate : {join(dir, rel) + ".py", join(dir, rel) + "/__init__.py"})
        if (files_.has(candidate))
          return {{candidate, ""}};
      return {};
    }
    case import_ref::kind::js:
      return js(f, r.spec);
    case import_ref::kind::go:
      return go(r.spec);
    case import_ref::kind::rust_crate: {
      auto it = crates_.find(r.spec);
      if (it == crates_.end())
        return {};
      return {{"", it->second}};
    }
    case import_ref::kind::java:
      return java(r.spec, f.path);
    }
    return {};
  }

private:
  std::vector<target> python(const std::string& spec, const std::string& near) const {
    // a.b.c: the module a/b/c.py (or package a/b/c/__init__.py), anywhere under
    // a source root; a.b.c may also be a name in module a/b.py.
    auto path = spec;
    std::replace(path.begin(), path.end(), '.', '/');
    while (!path.empty()) {
      for (const auto& candidate : {path + ".py", path + "/__init__.py"})
        if (auto hit = files_.by_suffix(candidate, near))
          return {{*hit, ""}};
      auto slash = path.rfind('/');
      if (slash == std::string::npos)
        break;
      path.resize(slash);
    }
    return {};
  }

  std::vector<target> js(const file_record& f, const std::string& spec) const {
    if (spec.rfind("./", 0) == 0 || spec.rfind("../", 0) == 0) {
      auto base = normalize(join(f.dir, spec));
      if (!base)
        return {};
      static const char* suffixes[] = {"",          ".ts",       ".tsx",      ".js",
                                       ".jsx",      ".mjs",      ".cjs",      ".json",
                                       "/index.ts", "/index.tsx", "/index.js", "/index.jsx"};
      for (const char* s : suffixes)
        if (files_.has(*base + s))
          return {{*base + s, ""}};
      // TypeScript sources import their compiled names: './x.js' for x.ts.
      if (ends_with(*base, ".js"))
        for (const char* s : {".ts", ".tsx"}) {
          auto ts = base->substr(0, base->size() - 3) + s;
          if (files_.has(ts))
            return {{ts, ""}};
        }
      return {};
    }
    // A bare specifier: a package of the workspace by its name.
    auto name = spec;
    auto slash = name.find('/');
    if (!name.empty() && name[0] == '@' && slash != std::string::npos)
      slash = name.find('/', slash + 1);
    if (slash != std::string::npos)
      name.resize(slash);
    auto it = npm_packages_.find(name);
    if (it == npm_packages_.end())
      return {};
    return {{"", it->second}};
  }

  std::vector<target> go(const std::string& spec) const {
    for (const auto& [module_path, dir] : go_modules_) {
      if (spec != module_path && spec.rfind(module_path + "/", 0) != 0)
        continue;
      auto rest = spec.substr(module_path.size());
      if (!rest.empty())
        rest.erase(0, 1);
      auto package_dir = join(dir, rest);
      auto files = files_.by_dir.find(package_dir);
      if (files == files_.by_dir.end())
        return {};
      for (const auto* p : files->second)
        if (ends_with(*p, ".go"))
          return {{*p, ""}};
    }
    return {};
  }

  std::vector<target> java(const std::string& spec, const std::string& near) const {
    auto path = spec;
    std::replace(path.begin(), path.end(), '.', '/');
    if (ends_with(path, "/*")) {
      // A package: any file of a directory ending with its path.
      auto package = path.substr(0, path.size() - 2);
      for (const auto& [dir, files] : files_.by_dir)
        if ((dir == package || ends_with(dir, "/" + package)) && !files.empty())
          return {{*files.front(), ""}};
      return {};
    }
    // com.x.Y, or com.x.Y.member (a static import): drop names until a file.
    while (!path.empty()) {
      for (const char* ext : {".java", ".kt", ".scala"})
        if (auto hit = files_.by_suffix(path + ext, near))
          return {{*hit, ""}};
      auto slash = path.rfind('/');
      if (slash == std::string::npos)
        break;
      path.resize(slash);
    }
    return {};
  }

  const file_index& files_;
  std::unordered_map<std::string, std::string> npm_packages_; // name → module dir
  std::unordered_map<std::string, std::string> crates_;       // crate → module dir
  std::vector<std::pair<std::string, std::string>> go_modules_; // module path → dir
};

std::string module_path(const std::string& dir) { return dir.empty() ? "." : dir; }

} // namespace

analysis analyse(const fs::path& root, const analysis_limits& limits,
                 const std::atomic<bool>& stop) {
  analysis out;
  std::vector<file_record> files;
  std::vector<manifest_info> manifests;
  std::set<std::string> test_dirs, doc_dirs;
  std::map<std::string, language_total> by_language;
  file_index index;

  std::error_code ec;
  fs::recursive_directory_iterator it{root, fs::directory_options::skip_permission_denied, ec};
  if (ec)
    throw std::runtime_error("cannot read the checkout: " + ec.message());
  for (; it != fs::recursive_directory_iterator{}; it.increment(ec)) {
    if (ec)
      throw std::runtime_error("cannot read the checkout: " + ec.message());
    if (stop.load(std::memory_order_relaxed))
      throw analysis_stopped("the analysis was stopped");
    const auto& entry = *it;
    auto rel = entry.path().lexically_relative(root).generic_string();
    auto status = entry.symlink_status(ec); // lstat: a link is never followed
    if (ec)
      continue;
    if (fs::is_symlink(status)) {
      ++out.total.symlinks;
      continue;
    }
    if (fs::is_directory(status)) {
      auto name = base_of(rel);
      if (name == ".git") {
        it.disable_recursion_pending();
        continue;
      }
      ++out.total.directories;
      if (test_dir_names.count(lower(name)))
        test_dirs.insert(rel);
      if (doc_dir_names.count(lower(name)))
        doc_dirs.insert(rel);
      continue;
    }
    if (!fs::is_regular_file(status))
      continue;
    if (++out.total.files > limits.max_files)
      throw limit_exceeded("the repository has more than repository_analyzer.max_files (" +
                           std::to_string(limits.max_files) + ") files");
    auto size = static_cast<std::int64_t>(entry.file_size(ec));
    if (ec)
      size = 0;
    out.total.bytes += size;
    index.add(rel);
    if (is_test_file(rel))
      ++out.test_files;
    if (is_doc_file(rel))
      out.doc_files.push_back(rel);
    if (size > limits.max_file_bytes) {
      ++out.total.large_files;
      continue;
    }
    auto text = read_head(entry.path(), static_cast<std::size_t>(size));
    if (looks_binary(text)) {
      ++out.total.binary_files;
      continue;
    }
    auto name = base_of(rel);
    if (auto m = read_manifest(name, dir_of(rel), text))
      manifests.push_back(std::move(*m));
    if (dir_of(rel).empty() && lower(name).rfind("readme", 0) == 0 && out.readme_path.empty()) {
      out.readme_path = rel;
      out.readme_summary = first_paragraph(text);
      if (out.readme_summary.size() > 1000)
        out.readme_summary.resize(1000);
    }
    auto language = language_of_name(name);
    bool shebang = false;
    if (!language) {
      language = language_of_shebang(std::string_view{text}.substr(0, text.find('\n')));
      shebang = language.has_value();
    }
    if (!language)
      continue;
    file_record f;
    f.path = rel;
    f.dir = dir_of(rel);
    f.language = std::string{*language};
    f.lines = count_lines(*language, text);
    f.imports = imports_of(*language, text);
    f.entry = entry_point_kind(*language, rel, text);
    if (f.entry.empty() && shebang)
      f.entry = "script";
    auto& lt = by_language[f.language];
    lt.name = f.language;
    ++lt.files;
    lt.lines += f.lines;
    out.total.lines += f.lines;
    files.push_back(std::move(f));
  }

  // Modules: the directories holding a manifest; a file belongs to the
  // nearest enclosing one, or to the root.
  std::map<std::string, module_info> modules;
  for (const auto& m : manifests) {
    auto& mod = modules[module_path(m.dir)];
    mod.path = module_path(m.dir);
    mod.manifests.push_back(join(m.dir, m.kind));
    for (const auto& d : m.dependencies)
      out.external.push_back({mod.path, join(m.dir, m.kind), m.ecosystem, d.first, d.second});
    for (const auto& [kind, path] : m.entry_points)
      if (auto n = normalize(join(m.dir, path)))
        out.entry_points.push_back({*n, kind});
  }
  std::unordered_map<std::string, std::string> module_of_dir;
  auto module_of = [&](const std::string& dir) -> const std::string& {
    auto found = module_of_dir.find(dir);
    if (found != module_of_dir.end())
      return found->second;
    std::string d = dir;
    while (true) {
      if (modules.count(module_path(d)))
        break;
      if (d.empty())
        break;
      d = dir_of(d);
    }
    return module_of_dir.emplace(dir, module_path(d)).first->second;
  };
  for (const auto& f : files) {
    auto& mod = modules[module_of(f.dir)];
    mod.path = module_of(f.dir);
    ++mod.files;
    mod.code += f.lines.code;
    mod.languages[f.language] += f.lines.code;
    if (!f.entry.empty())
      out.entry_points.push_back({f.path, f.entry});
  }

  // Dependencies between modules: each import resolved to a file (or a
  // workspace package) of another module.
  resolver resolve{index, manifests};
  std::map<std::pair<std::string, std::string>, std::int64_t> edges;
  for (const auto& f : files) {
    const auto& from = module_of(f.dir);
    for (const auto& r : f.imports)
      for (const auto& t : resolve.resolve(f, r)) {
        const auto& to = t.file.empty() ? module_path(t.module_dir) : module_of(dir_of(t.file));
        if (to != from)
          ++edges[{from, to}];
      }
  }
  for (const auto& [key, n] : edges)
    out.dependencies.push_back({key.first, key.second, n});

  for (auto& [path, mod] : modules)
    out.modules.push_back(std::move(mod));
  for (auto& [name, lt] : by_language)
    out.languages.push_back(std::move(lt));
  std::sort(out.languages.begin(), out.languages.end(),
            [](const language_total& a, const language_total& b) {
              return a.lines.code != b.lines.code ? a.lines.code > b.lines.code : a.name < b.name;
            });
  std::sort(out.entry_points.begin(), out.entry_points.end(),
            [](const entry_point& a, const entry_point& b) {
              return a.path != b.path ? a.path < b.path : a.kind < b.kind;
            });
  out.entry_points.erase(std::unique(out.entry_points.begin(), out.entry_points.end(),
                                     [](const entry_point& a, const entry_point& b) {
                                       return a.path == b.path && a.kind == b.kind;
                                     }),
                         out.entry_points.end());
  std::sort(out.external.begin(), out.external.end(),
            [](const external_dependency& a, const external_dependency& b) {
              return std::tie(a.module, a.manifest, a.name) < std::tie(b.module, b.manifest, b.name);
            });
  // Test and doc directories: the outermost of each nest.
  auto outermost = [](const std::set<std::string>& dirs) {
    std::vector<std::string> out;
    for (const auto& d : dirs)
      if (out.empty() || d.rfind(out.back() + "/", 0) != 0)
        out.push_back(d);
    return out;
  };
  out.test_directories = outermost(test_dirs);
  out.doc_directories = outermost(doc_dirs);
  std::sort(out.doc_files.begin(), out.doc_files.end());
  return out;
}

json to_json(const analysis& a) {
  // Each list a repository can make as long as it likes is kept to its
  // first entries in its documented order, so a map stays small however the
  // repository is built (200,000 files can be 200,000 modules); `omitted`
  // says how many of each were left out.
  json omitted = json::object();
  auto listed = [&](const char* name, std::size_t size, std::size_t cap) {
    if (size > cap)
      omitted[name] = size - cap;
    return std::min(size, cap);
  };
  auto lines = [](const line_counts& l) {
    return json{{"code", l.code}, {"comment", l.comment}, {"blank", l.blank}};
  };
  json languages = json::array();
  for (const auto& l : a.languages) {
    auto j = lines(l.lines);
    j["name"] = l.name;
    j["files"] = l.files;
    languages.push_back(j);
  }
  json modules = json::array();
  std::set<std::string> shown;
  for (std::size_t i = 0; i < listed("modules", a.modules.size(), map_caps::modules); ++i) {
    const auto& m = a.modules[i];
    shown.insert(m.path);
    modules.push_back({{"path", m.path},
                       {"manifests", m.manifests},
                       {"files", m.files},
                       {"code", m.code},
                       {"languages", m.languages}});
  }
  // Edges between listed modules only, then at most the cap of them.
  std::vector<const module_edge*> edges;
  for (const auto& d : a.dependencies)
    if (shown.count(d.from) && shown.count(d.to))
      edges.push_back(&d);
  json dependencies = json::array();
  auto between_omitted = a.dependencies.size() - edges.size();
  auto n_edges = listed("dependencies", edges.size(), map_caps::dependencies);
  if (between_omitted)
    omitted["dependencies"] = omitted.value("dependencies", std::size_t{0}) + between_omitted;
  for (std::size_t i = 0; i < n_edges; ++i)
    dependencies.push_back({{"from", edges[i]->from}, {"to", edges[i]->to}, {"imports", edges[i]->imports}});
  json external = json::array();
  for (std::size_t i = 0; i < listed("external_dependencies", a.external.size(), map_caps::external); ++i) {
    const auto& e = a.external[i];
    external.push_back({{"module", e.module},
                        {"manifest", e.manifest},
                        {"ecosystem", e.ecosystem},
                        {"name", e.name},
                        {"version", e.version}});
  }
  json entries = json::array();
  for (std::size_t i = 0; i < listed("entry_points", a.entry_points.size(), map_caps::entry_points); ++i)
    entries.push_back({{"path", a.entry_points[i].path}, {"kind", a.entry_points[i].kind}});
  auto first = [](const std::vector<std::string>& v, std::size_t n) {
    return std::vector<std::string>(v.begin(), v.begin() + static_cast<long>(n));
  };
  auto test_dirs = first(a.test_directories,
                         listed("test_directories", a.test_directories.size(), map_caps::directories));
  auto doc_dirs = first(a.doc_directories,
                        listed("doc_directories", a.doc_directories.size(), map_caps::directories));
  auto docs = first(a.doc_files, std::min(map_caps::doc_paths, a.doc_files.size()));
  auto totals = lines(a.total.lines);
  totals["files"] = a.total.files;
  totals["bytes"] = a.total.bytes;
  totals["directories"] = a.total.directories;
  totals["binary_files"] = a.total.binary_files;
  totals["large_files"] = a.total.large_files;
  totals["symlinks"] = a.total.symlinks;
  return {{"totals", totals},
          {"languages", languages},
          {"modules", modules},
          {"dependencies", dependencies},
          {"external_dependencies", external},
          {"entry_points", entries},
          {"tests", {{"directories", test_dirs}, {"files", a.test_files}}},
          {"docs", {{"directories", doc_dirs}, {"files", a.doc_files.size()}, {"paths", docs}}},
          {"readme", a.readme_path.empty()
                         ? json(nullptr)
                         : json{{"path", a.readme_path}, {"summary", a.readme_summary}}},
          {"omitted", omitted}};
}

std::string mermaid(const json& map) {
  // Node ids are m0, m1, … in module order; labels are quoted, with the
  // characters Mermaid would read as syntax replaced.
  auto label = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"')
        out += "#quot;";
      else if (c == '<')
        out += "#lt;";
      else if (c == '>')
        out += "#gt;";
      else if (c == '\n' || c == '\r')
        out += ' ';
      else
        out += c;
    }
    return out;
  };
  std::string out = "graph LR\n";
  std::map<std::string, std::string> ids;
  if (map.contains("modules") && map["modules"].is_array())
    for (const auto& m : map["modules"]) {
      auto path = m.value("path", std::string{});
      auto id = "m" + std::to_string(ids.size());
      ids[path] = id;
      out += "  " + id + "[\"" + label(path) + "\"]\n";
    }
  if (map.contains("dependencies") && map["dependencies"].is_array())
    for (const auto& d : map["dependencies"]) {
      auto from = ids.find(d.value("from", std::string{}));
      auto to = ids.find(d.value("to", std::string{}));
      if (from == ids.end() || to == ids.end())
        continue;
      out += "  " + from->second + " -->|" + std::to_string(d.value("imports", 0)) + "| " +
             to->second + "\n";
    }
  return out;
}

} // namespace troupe::analyzer
