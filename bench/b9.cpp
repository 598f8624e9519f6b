// B9: the repository analysis of a large checkout next to cloc on the same
// checkout in the same run: the time of each, and how far the analysis'
// line counts per language are from cloc's (docs/analyzer.md).
//
//   troupe_b9 generated [DIR] [FILES=20000]   writes a repository of FILES
//                                             files in twelve languages under
//                                             DIR (a fresh temporary one by
//                                             default), then measures it
//   troupe_b9 tree DIR                        measures DIR as it is (e.g. a
//                                             `git archive` of troupe itself)
//
// Runs the analysis three times and cloc twice (their medians and minimums
// are reported) and prints one JSON object: the times, their ratio, and per
// language the files and the code, comment and blank lines of both, with
// the largest difference in per cent.
#include "actors/analyzer/analysis.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace troupe::analyzer;

namespace {

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream{p, std::ios::binary} << text;
}

// Deterministic words, so every file differs (cloc counts identical files once).
std::string phrase(std::mt19937& rng, int n) {
  static const char* words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot",
                                "golf", "hotel", "india", "juliet", "kilo", "lima",
                                "mike", "november", "oscar", "papa", "quebec", "romeo"};
  std::uniform_int_distribution<int> pick{0, 17};
  std::string out;
  for (int i = 0; i < n; ++i)
    out += std::string(i ? " " : "") + words[pick(rng)];
  return out;
}

// A body of `functions` functions in a C-like language: a block comment, line
// comments, blank lines, code with a trailing comment.
std::string c_like(std::mt19937& rng, int id, int functions, const std::string& fn,
                   const std::string& open, const std::string& close) {
  std::string s = "/* File " + std::to_string(id) + ": " + phrase(rng, 6) + "\n * " +
                  phrase(rng, 8) + "\n */\n\n";
  for (int f = 0; f < functions; ++f) {
    s += "// " + phrase(rng, 5) + "\n";
    s += fn + std::to_string(id) + "_" + std::to_string(f) + open + "\n";
    s += "  value = value * " + std::to_string(f + 3) + " + " + std::to_string(id) +
         "; // " + phrase(rng, 3) + "\n\n";
    s += "  return value;\n" + close + "\n\n";
  }
  return s;
}

void generate(const fs::path& root, int files) {
  std::mt19937 rng{9};
  // Shares of the files by kind, in per mille.
  struct kind {
    int share;
    std::string dir, ext;
  };
  const std::vector<kind> kinds = {
      {200, "engine/src", ".cpp"}, {100, "engine/include", ".hpp"}, {150, "tools", ".py"},
      {100, "web/src", ".js"},     {50, "web/src", ".ts"},          {100, "svc", ".go"},
      {75, "crates/core/src", ".rs"}, {75, "jvm/src/main/java/com/acme", ".java"},
      {25, "scripts", ".sh"},       {50, "docs", ".md"},             {25, "deploy", ".yaml"},
      {50, "config", ".json"}};
  write(root / "CMakeLists.txt", "cmake_minimum_required(VERSION 3.25)\nproject(gen)\n"
                                 "find_package(Threads REQUIRED)\n");
  write(root / "web/package.json", R"({"name": "web", "dependencies": {"left-pad": "1"}})");
  write(root / "svc/go.mod", "module example.com/svc\n\ngo 1.21\n");
  write(root / "crates/core/Cargo.toml", "[package]\nname = \"core\"\n");
  write(root / "tools/requirements.txt", "requests==2.31.0\n");
  write(root / "README.md", "# Generated\n\nA generated repository for B9.\n");
  int made = 6;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    const auto& kd = kinds[k];
    int n = files * kd.share / 1000;
    if (k + 1 == kinds.size())
      n = files - made;
    for (int i = 0; i < n; ++i, ++made) {
      auto dir = root / kd.dir / ("m" + std::to_string(i % 50));
      auto name = "f" + std::to_string(i) + kd.ext;
      int functions = 2 + i % 5;
      std::string text;
      if (kd.ext == ".cpp")
        text = "#include \"engine/include/m" + std::to_string(i % 50) + "/f" +
               std::to_string(i % (files / 10)) + ".hpp\"\n#include <vector>\n\n" +
               c_like(rng, i, functions, "int f", "(int value) {", "}");
      else if (kd.ext == ".hpp")
        text = "#pragma once\n" + c_like(rng, i, functions, "inline int h", "(int value) {", "}");
      else if (kd.ext == ".js" || kd.ext == ".ts")
        text = "import x from './f" + std::to_string((i + 1) % n) + "';\n\n" +
               c_like(rng, i, functions, "function g", "(value) {", "}");
      else if (kd.ext == ".go")
        text = "package m" + std::to_string(i % 50) + "\n\n" +
               c_like(rng, i, functions, "func g", "(value int) int {", "}");
      else if (kd.ext == ".rs")
        text = "use core::fmt;\n\n" + c_like(rng, i, functions, "fn g", "(mut value: i64) -> i64 {", "}");
      else if (kd.ext == ".java")
        text = "package com.acme;\n\nimport java.util.List;\n\npublic class F" + std::to_string(i) +
               " {\n" + c_like(rng, i, functions, "static int g", "(int value) {", "}") + "}\n";
      else if (kd.ext == ".py") {
        text = "#!/usr/bin/env python3\n\"\"\"Module " + std::to_string(i) + ": " + phrase(rng, 6) +
               "\n" + phrase(rng, 7) + "\n\"\"\"\nimport os\n\n";
        for (int f = 0; f < functions; ++f)
          text += "\n# " + phrase(rng, 4) + "\ndef g" + std::to_string(f) + "(value):\n"
                  "    value = value * " + std::to_string(f + 3) + "  # " + phrase(rng, 2) +
                  "\n\n    return value\n";
      } else if (kd.ext == ".sh") {
        text = "#!/bin/sh\n# " + phrase(rng, 6) + "\nset -eu\n\n";
        for (int f = 0; f < functions; ++f)
          text += "# step " + std::to_string(f) + "\necho \"" + phrase(rng, 3) + "\"\n\n";
      } else if (kd.ext == ".md") {
        text = "# Page " + std::to_string(i) + "\n\n";
        for (int f = 0; f < functions; ++f)
          text += phrase(rng, 9) + "\n" + phrase(rng, 7) + ".\n\n";
      } else if (kd.ext == ".yaml") {
        text = "# " + phrase(rng, 5) + "\nname: f" + std::to_string(i) + "\nitems:\n";
        for (int f = 0; f < functions; ++f)
          text += "  - " + phrase(rng, 2) + "  # " + phrase(rng, 2) + "\n\n";
      } else {
        text = "{\n  \"id\": " + std::to_string(i) + ",\n  \"name\": \"" + phrase(rng, 3) +
               "\",\n  \"values\": [" + std::to_string(functions) + ", 2, 3]\n}\n";
      }
      write(dir / name, text);
    }
  }
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

json run_cloc(const fs::path& root, double& ms) {
  auto start = std::chrono::steady_clock::now();
  std::string command = "cloc --json --quiet '" + root.string() + "' 2>/dev/null";
  FILE* p = popen(command.c_str(), "r");
  if (!p)
    throw std::runtime_error("cannot run cloc");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  if (pclose(p) != 0)
    throw std::runtime_error("cloc failed (is it installed? scripts/setup bench installs it)");
  ms = ms_since(start);
  return json::parse(out);
}

double percent(std::int64_t ours, std::int64_t theirs) {
  if (ours == theirs)
    return 0;
  return 100.0 * std::abs(static_cast<double>(ours - theirs)) /
         static_cast<double>(std::max<std::int64_t>(theirs, 1));
}

json measure(const fs::path& root) {
  std::atomic<bool> stop{false};
  analysis_limits limits;
  limits.max_files = 10000000;
  std::vector<double> ours_ms;
  analysis a;
  for (int r = 0; r < 3; ++r) {
    auto start = std::chrono::steady_clock::now();
    a = analyse(root, limits, stop);
    ours_ms.push_back(ms_since(start));
  }
  std::vector<double> cloc_ms;
  json cloc;
  for (int r = 0; r < 2; ++r) {
    double ms = 0;
    cloc = run_cloc(root, ms);
    cloc_ms.push_back(ms);
  }
  std::sort(ours_ms.begin(), ours_ms.end());
  std::sort(cloc_ms.begin(), cloc_ms.end());
  json languages = json::array();
  double worst = 0, worst_code = 0;
  std::int64_t ours_code = 0, cloc_code = 0;
  for (const auto& l : a.languages) {
    json row = {{"name", l.name},
                {"files", l.files},
                {"code", l.lines.code},
                {"comment", l.lines.comment},
                {"blank", l.lines.blank}};
    ours_code += l.lines.code;
    if (cloc.contains(l.name)) {
      const auto& c = cloc[l.name];
      row["cloc"] = {{"files", c["nFiles"]}, {"code", c["code"]}, {"comment", c["comment"]},
                     {"blank", c["blank"]}};
      double d = std::max({percent(l.lines.code, c["code"]), percent(l.lines.comment, c["comment"]),
                           percent(l.lines.blank, c["blank"]), percent(l.files, c["nFiles"])});
      row["max_difference_percent"] = d;
      worst = std::max(worst, d);
      worst_code = std::max(worst_code, percent(l.lines.code, c["code"]));
    } else {
      row["cloc"] = nullptr; // cloc does not count this language
    }
    languages.push_back(row);
  }
  for (const auto& [name, c] : cloc.items())
    if (name != "header" && name != "SUM")
      if (std::none_of(a.languages.begin(), a.languages.end(),
                       [&](const language_total& l) { return l.name == name; }))
        languages.push_back({{"name", name}, {"files", 0}, {"cloc", c}, {"only_cloc", true}});
  if (cloc.contains("SUM"))
    cloc_code = cloc["SUM"]["code"];
  return {{"files", a.total.files},
          {"analysis_ms_median", ours_ms[1]},
          {"analysis_ms_min", ours_ms[0]},
          {"cloc_ms_median", cloc_ms.size() > 1 ? (cloc_ms[0] + cloc_ms[1]) / 2 : cloc_ms[0]},
          {"cloc_ms_min", cloc_ms[0]},
          {"cloc_over_analysis", cloc_ms[0] / std::max(ours_ms[0], 0.001)},
          {"code_lines", ours_code},
          {"cloc_code_lines", cloc_code},
          {"total_code_difference_percent", percent(ours_code, cloc_code)},
          {"worst_code_difference_percent", worst_code},
          {"worst_difference_percent", worst},
          {"languages", languages}};
}

} // namespace

int main(int argc, char** argv) {
  try {
    std::string mode = argc > 1 ? argv[1] : "generated";
    if (mode == "tree" && argc > 2) {
      std::cout << measure(argv[2]).dump() << "\n";
      return 0;
    }
    if (mode != "generated") {
      std::cerr << "usage: troupe_b9 generated [DIR] [FILES] | tree DIR\n";
      return 2;
    }
    fs::path dir = argc > 2 ? fs::path{argv[2]}
                            : fs::temp_directory_path() /
                                  ("troupe-b9-" + std::to_string(std::random_device{}()));
    int files = argc > 3 ? std::stoi(argv[3]) : 20000;
    bool made = !fs::exists(dir);
    if (made)
      generate(dir, files);
    auto out = measure(dir);
    if (made && argc <= 2)
      fs::remove_all(dir);
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "troupe_b9: " << e.what() << "\n";
    return 1;
  }
}
