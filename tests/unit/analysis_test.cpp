// The repository analysis on trees written by the test: line counting as
// cloc counts, imports resolved to modules, manifests, entry points, tests,
// docs, the README, symlinks never followed, the file limit.
#include "actors/analyzer/analysis.hpp"
#include "actors/analyzer/imports.hpp"
#include "actors/analyzer/languages.hpp"
#include "actors/analyzer/source.hpp"
#include "messages/api_error.hpp"

#include <fstream>
#include <random>

#include <gtest/gtest.h>

using namespace troupe::analyzer;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class tree {
public:
  tree() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("troupe-analysis-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~tree() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void write(const std::string& rel, const std::string& text) {
    auto p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream{p, std::ios::binary} << text;
  }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

analysis run(const tree& t, analysis_limits limits = {}) {
  std::atomic<bool> stop{false};
  return analyse(t.path(), limits, stop);
}

const language_total* language(const analysis& a, const std::string& name) {
  for (const auto& l : a.languages)
    if (l.name == name)
      return &l;
  return nullptr;
}

} // namespace

TEST(Languages, LinesAreCountedAsClocCountsThem) {
  auto c = count_lines("C++", "#include <x>\n"
                              "\n"
                              "// a comment\n"
                              "int f() { return 1; } // code with a comment\n"
                              "/* a block\n"
                              "\n"
                              "   still the block */\n"
                              "int g = 2; /* inline */ int h = 3;\n"
                              "const char* s = \"// not a comment\";\n"
                              "   \t\n");
  EXPECT_EQ(c.code, 4);
  EXPECT_EQ(c.comment, 3);
  EXPECT_EQ(c.blank, 3);

  auto py = count_lines("Python", "#!/usr/bin/env python3\n"
                                  "\"\"\"Docstring\n"
                                  "over lines.\"\"\"\n"
                                  "import os  # trailing\n"
                                  "x = '#not'\n");
  EXPECT_EQ(py.code, 3); // the interpreter line is code, as cloc counts it
  EXPECT_EQ(py.comment, 2);
  EXPECT_EQ(py.blank, 0);

  auto sh = count_lines("Bourne Shell", "echo don't # comment\n# only a comment\n");
  EXPECT_EQ(sh.code, 1);
  EXPECT_EQ(sh.comment, 1);
  EXPECT_EQ(count_lines("JSON", "{\n\n  \"a\": 1\n}").code, 3);
}

TEST(Languages, NamesShebangsAndBinaries) {
  EXPECT_EQ(language_of_name("main.cpp"), "C++");
  EXPECT_EQ(language_of_name("x.h"), "C/C++ Header");
  EXPECT_EQ(language_of_name("CMakeLists.txt"), "CMake");
  EXPECT_EQ(language_of_name("Makefile"), "make");
  EXPECT_EQ(language_of_name("app.test.TS"), "TypeScript");
  EXPECT_EQ(language_of_name("README"), std::nullopt);
  EXPECT_EQ(language_of_name(".bashrc"), std::nullopt);
  EXPECT_EQ(language_of_shebang("#!/usr/bin/env python3"), "Python");
  EXPECT_EQ(language_of_shebang("#!/bin/bash -e"), "Bourne Again Shell");
  EXPECT_EQ(language_of_shebang("#!/usr/bin/env -S node --flag"), "JavaScript");
  EXPECT_EQ(language_of_shebang("echo hi"), std::nullopt);
  EXPECT_TRUE(looks_binary(std::string("ab\0cd", 5)));
  EXPECT_FALSE(looks_binary("plain text"));
}

TEST(Imports, EachLanguageIsRead) {
  auto c = imports_of("C++", "#include \"lib/x.hpp\"\n  #  include <vector>\n#define X\n");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].spec, "lib/x.hpp");
  EXPECT_EQ(c[0].k, import_ref::kind::include_quoted);
  EXPECT_EQ(c[1].k, import_ref::kind::include_angled);

  auto py = imports_of("Python", "import a.b, c as d\nfrom .pkg import m, n\nfrom x.y import z\n");
  std::vector<std::string> specs;
  for (const auto& r : py)
    specs.push_back(r.spec);
  EXPECT_EQ(specs, (std::vector<std::string>{"a.b", "c", "pkg", "pkg.m", "pkg.n", "x.y"}));

  auto js = imports_of("TypeScript", "import { a } from './a';\nimport './side.css';\n"
                                     "const b = require(\"../b\");\nexport * from 'pkg/sub';\n");
  specs.clear();
  for (const auto& r : js)
    specs.push_back(r.spec);
  std::sort(specs.begin(), specs.end());
  EXPECT_EQ(specs, (std::vector<std::string>{"../b", "./a", "./side.css", "pkg/sub"}));

  auto go = imports_of("Go", "package main\nimport \"fmt\"\nimport (\n  \"example.com/m/lib\"\n"
                             "  x \"example.com/m/other\"\n)\n");
  ASSERT_EQ(go.size(), 3u);
  EXPECT_EQ(go[2].spec, "example.com/m/other");

  auto rs = imports_of("Rust", "use std::io;\nuse core_lib::thing;\nextern crate serde;\nuse crate::x;\n");
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].spec, "core_lib");
  EXPECT_EQ(rs[1].spec, "serde");
  // A `use` of nothing but colons (found by the fuzzer) names no crate.
  EXPECT_TRUE(imports_of("Rust", "use::\nuse ::\n  use :: ;\n").empty());

  auto java = imports_of("Java", "import com.acme.core.Engine;\nimport static com.acme.U.f;\n"
                                 "import com.acme.util.*;\n");
  ASSERT_EQ(java.size(), 3u);
  EXPECT_EQ(java[2].spec, "com.acme.util.*");
}

// However a repository is built, a map's lists stay within their caps, and
// `omitted` counts what was left out.
TEST(Analysis, AMapsListsAreCappedAndWhatIsLeftOutIsCounted) {
  analysis a;
  for (std::size_t i = 0; i < map_caps::modules + 200; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "m%05zu", i);
    a.modules.push_back({name, {"package.json"}, 1, 1, {}});
    a.entry_points.push_back({std::string{name} + "/main.c", "main"});
  }
  // An edge between listed modules, and one to a module left out.
  a.dependencies.push_back({"m00000", "m00001", 3});
  a.dependencies.push_back({"m00000", "m01100", 1});
  for (std::size_t i = 0; i < map_caps::directories + 5; ++i)
    a.test_directories.push_back("t" + std::to_string(i));
  auto j = to_json(a);
  EXPECT_EQ(j["modules"].size(), map_caps::modules);
  EXPECT_EQ(j["modules"][0]["path"], "m00000");
  EXPECT_EQ(j["entry_points"].size(), map_caps::entry_points);
  ASSERT_EQ(j["dependencies"].size(), 1u);
  EXPECT_EQ(j["dependencies"][0]["to"], "m00001");
  EXPECT_EQ(j["tests"]["directories"].size(), map_caps::directories);
  EXPECT_EQ(j["omitted"], (json{{"modules", 200}, {"entry_points", 200}, {"dependencies", 1},
                                {"test_directories", 5}}));
  // A small map omits nothing.
  EXPECT_EQ(to_json(analysis{})["omitted"], json::object());
}

TEST(Analysis, AMultiLanguageTreeIsMappedExactly) {
  tree t;
  t.write("README.md", "# Demo\n\n[![badge](x)](y)\n\nDemo is a tool that\nmaps things.\n\nMore.\n");
  t.write("CMakeLists.txt", "project(demo)\nfind_package(Boost 1.74 REQUIRED)\nadd_subdirectory(core)\n");
  t.write("core/CMakeLists.txt", "add_library(core core.cpp)\n");
  t.write("core/core.hpp", "#pragma once\nint core();\n");
  t.write("core/core.cpp", "#include \"core.hpp\"\nint core() { return 1; }\n");
  t.write("app/main.cpp", "#include \"core/core.hpp\"\n#include <vector>\n\nint main() {\n"
                          "  return core();\n}\n");
  t.write("web/package.json", R"({"name": "web", "main": "index.js",
    "dependencies": {"react": "^18.2.0"}, "devDependencies": {"jest": "29"}})");
  t.write("web/index.js", "const u = require('./util');\nimport shared from 'shared';\n");
  t.write("web/util.js", "module.exports = 1;\n");
  t.write("shared/package.json", R"({"name": "shared"})");
  t.write("shared/index.js", "export default 2;\n");
  t.write("tools/pyproject.toml", "[project]\nname = \"tools\"\ndependencies = [\"requests>=2\", \"click\"]\n");
  t.write("tools/tools/__init__.py", "");
  t.write("tools/tools/cli.py", "from . import helpers\nimport json\n\nif __name__ == \"__main__\":\n"
                                "    helpers.run()\n");
  t.write("tools/tools/helpers.py", "def run():\n    pass\n");
  t.write("svc/go.mod", "module example.com/svc\n\ngo 1.21\n\nrequire (\n"
                        "\tgithub.com/lib/pq v1.10.9\n)\n");
  t.write("svc/main.go", "package main\n\nimport \"example.com/svc/store\"\n\nfunc main() { store.Open() }\n");
  t.write("svc/store/store.go", "package store\n\nfunc Open() {}\n");
  t.write("tests/test_core.py", "def test_it():\n    assert True\n");
  t.write("docs/guide.md", "Guide.\n");
  t.write("scripts/deploy", "#!/bin/sh\necho deploy\n");
  t.write("logo.png", std::string("\x89PNG\0\0", 6));

  auto a = run(t);
  auto j = to_json(a);

  // Languages and lines.
  ASSERT_NE(language(a, "C++"), nullptr);
  EXPECT_EQ(language(a, "C++")->files, 2);
  EXPECT_EQ(language(a, "C++")->lines.code, 7);
  EXPECT_EQ(language(a, "C++")->lines.blank, 1);
  EXPECT_EQ(language(a, "C/C++ Header")->files, 1);
  EXPECT_EQ(language(a, "Python")->files, 4);
  EXPECT_EQ(language(a, "Go")->files, 2);
  EXPECT_EQ(language(a, "Bourne Shell")->files, 1); // by its shebang
  EXPECT_EQ(a.total.binary_files, 1);
  EXPECT_EQ(a.total.files, 22);

  // Modules: the directories with a manifest.
  std::vector<std::string> modules;
  for (const auto& m : a.modules)
    modules.push_back(m.path);
  EXPECT_EQ(modules, (std::vector<std::string>{".", "core", "shared", "svc", "tools", "web"}));

  // Edges between modules, from resolved imports only.
  std::vector<std::string> edges;
  for (const auto& d : a.dependencies)
    edges.push_back(d.from + "->" + d.to + ":" + std::to_string(d.imports));
  EXPECT_EQ(edges, (std::vector<std::string>{".->core:1", "web->shared:1"}));

  // External dependencies.
  std::vector<std::string> external;
  for (const auto& e : a.external)
    external.push_back(e.module + " " + e.ecosystem + " " + e.name + " " + e.version);
  EXPECT_EQ(external, (std::vector<std::string>{
                          ". cmake Boost 1.74", "svc go github.com/lib/pq v1.10.9",
                          "tools python click ", "tools python requests >=2",
                          "web npm jest 29", "web npm react ^18.2.0"}));

  // Entry points.
  std::vector<std::string> entries;
  for (const auto& e : a.entry_points)
    entries.push_back(e.path + ":" + e.kind);
  EXPECT_EQ(entries, (std::vector<std::string>{"app/main.cpp:main", "scripts/deploy:script",
                                               "svc/main.go:main", "tools/tools/cli.py:python-main",
                                               "web/index.js:package-main"}));

  EXPECT_EQ(a.test_directories, (std::vector<std::string>{"tests"}));
  EXPECT_EQ(a.test_files, 1);
  EXPECT_EQ(a.doc_directories, (std::vector<std::string>{"docs"}));
  EXPECT_EQ(a.readme_path, "README.md");
  EXPECT_EQ(a.readme_summary, "Demo is a tool that maps things.");
  EXPECT_EQ(j["modules"].size(), 6u);
  EXPECT_EQ(j["readme"]["summary"], "Demo is a tool that maps things.");
}

TEST(Analysis, SymlinksAreCountedNeverFollowed) {
  tree outside;
  outside.write("secret.cpp", "int secret = 1;\nint more = 2;\n");
  tree t;
  t.write("a.cpp", "int a;\n");
  fs::create_symlink(outside.path() / "secret.cpp", t.path() / "link.cpp");
  fs::create_directory_symlink(outside.path(), t.path() / "outside");
  fs::create_directory_symlink("..", t.path() / "up");
  auto a = run(t);
  EXPECT_EQ(a.total.symlinks, 3);
  EXPECT_EQ(a.total.files, 1);
  EXPECT_EQ(language(a, "C++")->lines.code, 1); // nothing read through a link
}

TEST(Analysis, TheFileLimitStopsTheWalk) {
  tree t;
  for (int i = 0; i < 12; ++i)
    t.write("f" + std::to_string(i) + ".txt", "x\n");
  analysis_limits limits;
  limits.max_files = 10;
  EXPECT_THROW(run(t, limits), limit_exceeded);
  limits.max_files = 12;
  EXPECT_EQ(run(t, limits).total.files, 12);
}

TEST(Analysis, LargeFilesAreCountedNotRead) {
  tree t;
  t.write("big.cpp", std::string(5000, 'x') + "\n");
  t.write("small.cpp", "int x;\n");
  analysis_limits limits;
  limits.max_file_bytes = 1000;
  auto a = run(t, limits);
  EXPECT_EQ(a.total.large_files, 1);
  EXPECT_EQ(a.total.files, 2);
  EXPECT_EQ(language(a, "C++")->files, 1);
}

TEST(Analysis, AStopEndsTheWalk) {
  tree t;
  t.write("a.cpp", "int a;\n");
  std::atomic<bool> stop{true};
  EXPECT_THROW(analyse(t.path(), {}, stop), analysis_stopped);
}

TEST(Analysis, TheMermaidGraphNamesEveryModuleAndEdge) {
  json map = {{"modules", {{{"path", "."}}, {{"path", "lib \"x\""}}, {{"path", "app"}}}},
              {"dependencies", {{{"from", "app"}, {"to", "lib \"x\""}, {"imports", 3}},
                                {{"from", "."}, {"to", "gone"}, {"imports", 1}}}}};
  EXPECT_EQ(mermaid(map), "graph LR\n"
                          "  m0[\".\"]\n"
                          "  m1[\"lib #quot;x#quot;\"]\n"
                          "  m2[\"app\"]\n"
                          "  m2 -->|3| m1\n");
}

TEST(RepositoryUrl, CredentialsAreSplitOffAndHostsChecked) {
  auto s = read_repository_url("https://robot:p%40ss%3Aw@git.example.com:8443/team/repo.git", {});
  EXPECT_EQ(s.url, "https://git.example.com:8443/team/repo.git");
  EXPECT_EQ(s.username, "robot");
  EXPECT_EQ(s.password, "p@ss:w");
  EXPECT_FALSE(s.local);
  EXPECT_EQ(read_repository_url("http://[::1]:9/x", {}).url, "http://[::1]:9/x");
  EXPECT_EQ(read_repository_url("git://example.com/x.git", {}).username, "");
  for (const char* bad :
       {"https://usettps://user:p@example.git", "https://host:0/x", "https://host:99999/x",
        "https://:80/x", "https://ho st/x", "https://@host/x",
        "https://u:p%zz@host/x", "https://u:%00@host/x", "ssh://host/x", "host:x.git",
        "file://host/x", "/nowhere-troupe-test", "file:///nowhere-troupe-test"}) {
    try {
      read_repository_url(bad, {"/nowhere-troupe-root"});
      ADD_FAILURE() << bad << " was read";
    } catch (const troupe::api_error& e) {
      EXPECT_EQ(e.status, 400) << bad;
      EXPECT_EQ(e.field, "repository_url") << bad;
    }
  }
}

TEST(RepositoryUrl, LocalPathsResolveInsideTheirRoots) {
  tree root;
  root.write("repo/x.txt", "x\n");
  tree outside;
  outside.write("other/y.txt", "y\n");
  fs::create_directory_symlink(outside.path() / "other", root.path() / "link");
  std::vector<std::string> roots{root.path().string()};
  auto canonical = fs::canonical(root.path() / "repo").string();
  EXPECT_EQ(read_repository_url((root.path() / "repo/../repo").string(), roots).url, canonical);
  EXPECT_EQ(read_repository_url("file://" + (root.path() / "repo").string(), roots).url, canonical);
  EXPECT_TRUE(read_repository_url(canonical, roots).local);
  EXPECT_THROW(read_repository_url((root.path() / "link").string(), roots), troupe::api_error);
  EXPECT_THROW(read_repository_url((root.path() / "repo/../..").string(), roots), troupe::api_error);
  EXPECT_THROW(read_repository_url(canonical, {}), troupe::api_error); // no roots: no local paths
  EXPECT_EQ(allowed_local_path((root.path() / "link").string(), roots), std::nullopt);
  EXPECT_EQ(split_roots(" /a, /b ,,/c"), (std::vector<std::string>{"/a", "/b", "/c"}));
}

TEST(RepositoryRef, OnlyPlainNamesAreRefs) {
  for (const char* good : {"main", "release/1.2", "v1.0.0", "a_b-c", "0123abc"})
    EXPECT_NO_THROW(check_ref(good)) << good;
  for (const char* bad : {"", "-x", "/a", "a/", "a..b", "a//b", "a b", "a~1", "a^", "@{u}"})
    EXPECT_THROW(check_ref(bad), troupe::api_error) << bad;
}
