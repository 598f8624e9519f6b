// The monitoring files in deploy/ and docs/metrics.md against the metrics
// the code exposes: a family the code adds must be documented, and every
// name a dashboard panel or an alert uses must exist.
#include "runtime/metrics.hpp"

#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace {

std::string read(const std::string& relative) {
  std::ifstream in{std::string{TROUPE_SOURCE_DIR} + "/" + relative};
  EXPECT_TRUE(in) << relative;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The names in the first column of docs/metrics.md's family table.
std::set<std::string> documented() {
  std::set<std::string> out;
  std::istringstream doc{read("docs/metrics.md")};
  static const std::regex name{"`([a-z_]+)`"};
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("| `", 0) != 0)
      continue;
    auto cell = line.substr(0, line.find('|', 1));
    for (std::sregex_iterator it{cell.begin(), cell.end(), name}, end; it != end; ++it)
      out.insert((*it)[1]);
  }
  return out;
}

// Metric names used in a PromQL expression (histogram series → family).
std::set<std::string> used_in(const std::string& expr) {
  static const std::regex name{R"(\b((?:troupe|process)_[a-z_]+))"};
  std::set<std::string> out;
  for (std::sregex_iterator it{expr.begin(), expr.end(), name}, end; it != end; ++it) {
    std::string n = (*it)[1];
    for (std::string suffix : {"_bucket", "_sum", "_count"})
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        n.resize(n.size() - suffix.size());
    out.insert(n);
  }
  return out;
}

TEST(Deploy, EveryExposedFamilyIsDocumented) {
  auto docs = documented();
  ASSERT_GT(docs.size(), 30u);
  std::istringstream text{troupe::metrics::exposition()};
  int families = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.rfind("# TYPE ", 0) != 0)
      continue;
    ++families;
    auto name = line.substr(7, line.find(' ', 7) - 7);
    EXPECT_TRUE(docs.count(name)) << name << " is exposed but not in docs/metrics.md";
  }
  EXPECT_GT(families, 30);
}

TEST(Deploy, TheDashboardUsesOnlyDocumentedMetrics) {
  auto docs = documented();
  auto dashboard = nlohmann::json::parse(read("deploy/grafana/troupe.json"));
  int exprs = 0;
  std::set<std::string> seen;
  for (const auto& panel : dashboard["panels"])
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      ++exprs;
      for (const auto& n : used_in(target["expr"].get<std::string>())) {
        seen.insert(n);
        EXPECT_TRUE(docs.count(n)) << n << " in panel " << panel["title"];
      }
    }
  EXPECT_GT(exprs, 20);
  // The families an operator watches first all have a panel.
  for (auto must : {"troupe_http_requests_total", "troupe_queue_depth",
                    "troupe_queue_oldest_age_seconds", "troupe_jobs_failed_total",
                    "troupe_event_subscribers", "troupe_db_errors_total", "troupe_nodes_up"})
    EXPECT_TRUE(seen.count(must)) << must << " has no panel";
}

TEST(Deploy, AlertsUseOnlyDocumentedMetrics) {
  auto docs = documented();
  std::istringstream file{read("deploy/prometheus/alerts.yml")};
  std::string rules; // without comments
  for (std::string line; std::getline(file, line);)
    if (line.find_first_not_of(' ') == std::string::npos || line[line.find_first_not_of(' ')] != '#')
      rules += line + "\n";
  auto names = used_in(rules);
  EXPECT_GE(names.size(), 5u);
  for (const auto& n : names)
    EXPECT_TRUE(docs.count(n)) << n << " in alerts.yml";
}

} // namespace
