// /metrics and /v1/status through the real gateway: the exposition parses as
// Prometheus text, its counters move as the API is used, and status reports
// the queue and the nodes as they are.
#include "tests/integration/stream_clients.hpp"

#include <gtest/gtest.h>
#include <regex>
#include <set>

using namespace troupe;
using namespace troupe::test;

namespace {

// ---- a strict reader of the Prometheus text format (0.0.4) ------------------

struct exposition {
  std::map<std::string, std::string> types;     // family → counter | gauge | histogram …
  std::map<std::string, double> samples;        // `name{a="1",b="2"}` (labels sorted) → value
  std::string error;                            // the first problem, "" when valid

  // The value of one series; 0 when it is absent (a counter not yet touched).
  double at(const std::string& name, std::map<std::string, std::string> labels = {}) const {
    auto it = samples.find(key(name, labels));
    return it == samples.end() ? 0 : it->second;
  }

  // The sum over every series of a sample name whose labels include `match`.
  double sum(const std::string& name, const std::map<std::string, std::string>& match = {}) const {
    double total = 0;
    for (const auto& [k, v] : samples) {
      if (k.substr(0, k.find('{')) != name)
        continue;
      bool ok = true;
      for (const auto& [l, value] : match)
        ok = ok && k.find(l + "=\"" + value + "\"") != std::string::npos;
      if (ok)
        total += v;
    }
    return total;
  }

  static std::string key(const std::string& name, const std::map<std::string, std::string>& l) {
    if (l.empty())
      return name;
    std::string out = name + "{";
    for (const auto& [k, v] : l)
      out += k + "=\"" + v + "\",";
    out.back() = '}';
    return out;
  }
};

exposition parse(const std::string& text) {
  static const std::regex sample_re{
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( -?[0-9]+)?$)"};
  static const std::regex label_re{R"(^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))"};
  static const std::set<std::string> known_types = {"counter", "gauge", "histogram", "summary",
                                                    "untyped"};
  exposition out;
  auto fail = [&](const std::string& why, const std::string& line) {
    if (out.error.empty())
      out.error = why + ": " + line;
  };
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.empty())
      continue;
    if (line[0] == '#') {
      std::istringstream words{line};
      std::string hash, kind, name, type;
      words >> hash >> kind >> name >> type;
      if (kind == "TYPE") {
        if (!known_types.count(type))
          fail("unknown type", line);
        if (out.types.count(name))
          fail("family declared twice", line);
        out.types[name] = type;
      }
      continue;
    }
    std::smatch m;
    if (!std::regex_match(line, m, sample_re)) {
      fail("not a sample line", line);
      continue;
    }
    std::string name = m[1];
    std::map<std::string, std::string> labels;
    std::string rest = m[3];
    while (!rest.empty()) {
      std::smatch l;
      if (!std::regex_search(rest, l, label_re)) {
        fail("bad label", line);
        break;
      }
      if (labels.count(l[1]))
        fail("label repeated", line);
      labels[l[1]] = l[2];
      rest = l.suffix();
    }
    std::string family = name;
    for (std::string suffix : {"_bucket", "_sum", "_count"})
      if (!out.types.count(family) && family.size() > suffix.size() &&
          family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          out.types.count(family.substr(0, family.size() - suffix.size())))
        family = family.substr(0, family.size() - suffix.size());
    if (!out.types.count(family))
      fail("sample before its # TYPE", line);
    double value = 0;
    std::string v = m[4];
    if (v == "+Inf")
      value = std::numeric_limits<double>::infinity();
    else if (v == "-Inf")
      value = -std::numeric_limits<double>::infinity();
    else if (v == "NaN")
      value = std::numeric_limits<double>::quiet_NaN();
    else {
      std::size_t used = 0;
      try {
        value = std::stod(v, &used);
      } catch (const std::exception&) {
      }
      if (used != v.size())
        fail("bad value", line);
    }
    auto k = exposition::key(name, labels);
    if (out.samples.count(k))
      fail("series repeated", line);
    out.samples[k] = value;
  }
  // Histograms: cumulative buckets ending in +Inf, which equals _count.
  for (const auto& [family, type] : out.types) {
    if (type != "histogram")
      continue;
    std::map<std::string, std::vector<std::pair<double, double>>> buckets; // series → (le, n)
    for (const auto& [k, v] : out.samples) {
      if (k.rfind(family + "_bucket{", 0) != 0)
        continue;
      auto le_at = k.find("le=\"");
      auto le_end = k.find('"', le_at + 4);
      auto le = k.substr(le_at + 4, le_end - le_at - 4);
      auto series = k.substr(0, le_at) + k.substr(le_end + 1);
      buckets[series].push_back(
          {le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le), v});
    }
    for (auto& [series, bs] : buckets) {
      std::sort(bs.begin(), bs.end());
      for (std::size_t i = 1; i < bs.size(); ++i)
        if (bs[i].second < bs[i - 1].second)
          fail("buckets not cumulative", series);
      if (bs.empty() || bs.back().first != std::numeric_limits<double>::infinity())
        fail("no +Inf bucket", series);
    }
  }
  return out;
}

exposition scrape(const std::string& address) {
  http_client c{address};
  auto r = c.send("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  auto e = parse(r.body);
  EXPECT_EQ(e.error, "");
  return e;
}

json status_of(const std::string& address) {
  http_client c{address};
  auto r = c.send("GET", "/v1/status");
  EXPECT_EQ(r.status, 200) << r.body;
  return r.doc();
}

// Every family docs/metrics.md lists, so the two cannot drift apart silently.
// (The troupe_llm_* families appear with the first model call: their labels
// name the model. llm_engine_test checks them.)
const std::vector<std::pair<std::string, std::string>> documented_families = {
    {"troupe_build_info", "gauge"},
    {"troupe_http_requests_total", "counter"},
    {"troupe_http_request_duration_seconds", "histogram"},
    {"troupe_outcomes_ingested_total", "counter"},
    {"troupe_ingestion_batch_size", "histogram"},
    {"troupe_jobs_enqueued_total", "counter"},
    {"troupe_jobs_started_total", "counter"},
    {"troupe_jobs_completed_total", "counter"},
    {"troupe_jobs_failed_total", "counter"},
    {"troupe_jobs_retried_total", "counter"},
    {"troupe_jobs_cancelled_total", "counter"},
    {"troupe_jobs_rescued_total", "counter"},
    {"troupe_job_run_seconds", "histogram"},
    {"troupe_jobs_running", "gauge"},
    {"troupe_queue_depth", "gauge"},
    {"troupe_queue_oldest_age_seconds", "gauge"},
    {"troupe_job_leases_active", "gauge"},
    {"troupe_nodes_up", "gauge"},
    {"troupe_nodes_stale", "gauge"},
    {"troupe_database_up", "gauge"},
    {"troupe_database_latency_seconds", "gauge"},
    {"troupe_critic_votes_total", "counter"},
    {"troupe_voter_decisions_total", "counter"},
    {"troupe_evolution_rounds_total", "counter"},
    {"troupe_event_subscribers", "gauge"},
    {"troupe_events_delivered_total", "counter"},
    {"troupe_event_subscriber_drops_total", "counter"},
    {"troupe_db_pool_size", "gauge"},
    {"troupe_db_pool_in_use", "gauge"},
    {"troupe_db_pool_queued", "gauge"},
    {"troupe_db_pool_waits_total", "counter"},
    {"troupe_db_pool_rejected_total", "counter"},
    {"troupe_db_errors_total", "counter"},
    {"process_cpu_seconds_total", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_virtual_memory_bytes", "gauge"},
    {"process_open_fds", "gauge"},
    {"process_max_fds", "gauge"},
    {"process_threads", "gauge"},
    {"process_start_time_seconds", "gauge"},
};

// The tests below run on databases of their own (fresh_database): the job
// counts they read are cluster-wide, and leftovers of other suites (queued
// evolutions, playbooks at their threshold) would otherwise move them.

TEST(Metrics, ParsesAsPrometheusTextAndCountsMoveAsTheApiIsUsed) {
  test_node node{fresh_database("observability_metrics"), [](config::settings& s) {
                   s.jobs.poll_interval_ms = 100;
                   s.events.poll_interval_ms = 50;
                 }};
  scrape(node.address()); // the HTTP families begin with the first request answered
  auto before = scrape(node.address());
  for (const auto& [family, type] : documented_families) {
    auto it = before.types.find(family);
    ASSERT_NE(it, before.types.end()) << family << " is not exposed";
    EXPECT_EQ(it->second, type) << family;
  }

  auto u = make_user(node.address());
  http_client c{node.address()};
  ws_client ws{node.address(), u.access_token, "?topics=playbook.version_created"};
  auto pb = c.send("POST", "/v1/playbooks", R"({"name":"metrics","evolution_threshold":2})",
                   u.auth());
  ASSERT_EQ(pb.status, 201);
  std::string id = pb.doc()["id"];
  const std::string outcomes = "/v1/playbooks/" + id + "/outcomes";
  std::vector<std::string> jobs;
  for (int i = 0; i < 4; ++i) {
    json body = {{"task_description", "report " + std::to_string(i)},
                 {"outcome", "failure"},
                 {"notes", "Lesson: validate the date range before query " + std::to_string(i)}};
    auto r = c.send("POST", outcomes, body.dump(), u.auth());
    ASSERT_EQ(r.status, 201) << r.body;
    if (!r.doc()["evolution"].is_null() && r.doc()["evolution"]["is_new"].get<bool>())
      jobs.push_back(r.doc()["evolution"]["job_id"]);
    // The second evolution is queued only once the first has finished.
    if (i == 1) {
      ASSERT_TRUE(ws.next()); // version 2
    }
  }
  ASSERT_EQ(jobs.size(), 2u);
  ASSERT_TRUE(ws.next()); // version 3: both evolutions are done
  EXPECT_EQ(c.send("GET", "/v1/playbooks/" + id + "/no-such-thing", "", u.auth()).status, 404);
  EXPECT_EQ(c.send("GET", outcomes, "", {}).status, 401);
  EXPECT_EQ(c.send("PUT", outcomes, "", u.auth()).status, 405);

  auto after = scrape(node.address());
  auto moved = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    return after.at(name, labels) - before.at(name, labels);
  };
  const std::map<std::string, std::string> post_outcome = {
      {"route", "/v1/playbooks/{id}/outcomes"}, {"method", "POST"}, {"status", "201"}};
  EXPECT_EQ(moved("troupe_http_requests_total", post_outcome), 4);
  EXPECT_EQ(moved("troupe_http_requests_total",
                  {{"route", "/v1/playbooks/{id}/outcomes"}, {"method", "GET"}, {"status", "401"}}),
            1);
  EXPECT_EQ(moved("troupe_http_requests_total",
                  {{"route", "unmatched"}, {"method", "GET"}, {"status", "404"}}),
            1);
  EXPECT_EQ(moved("troupe_http_requests_total",
                  {{"route", "/v1/playbooks/{id}/outcomes"}, {"method", "PUT"}, {"status", "405"}}),
            1);
  EXPECT_EQ(moved("troupe_http_request_duration_seconds_count",
                  {{"route", "/v1/playbooks/{id}/outcomes"}, {"method", "POST"}}),
            4);
  // Route templates, never raw paths: no label carries the playbook's id.
  http_client raw{node.address()};
  EXPECT_EQ(raw.send("GET", "/metrics").body.find(id), std::string::npos);

  EXPECT_EQ(moved("troupe_outcomes_ingested_total"), 4);
  EXPECT_GE(moved("troupe_ingestion_batch_size_count"), 1);
  EXPECT_LE(moved("troupe_ingestion_batch_size_count"), 4);
  EXPECT_EQ(moved("troupe_ingestion_batch_size_sum"), 4);
  for (auto family : {"troupe_jobs_enqueued_total", "troupe_jobs_started_total",
                      "troupe_jobs_completed_total", "troupe_job_run_seconds_count"})
    EXPECT_EQ(moved(family, {{"kind", "evolution"}}), 2) << family;
  EXPECT_EQ(moved("troupe_jobs_failed_total", {{"kind", "evolution"}}), 0);
  EXPECT_GE(moved("troupe_evolution_rounds_total"), 2);
  // Every operation gets a vote from each of the three critics and one decision.
  double decisions = after.sum("troupe_voter_decisions_total") -
                     before.sum("troupe_voter_decisions_total");
  EXPECT_GE(decisions, 2);
  for (auto perspective : {"completeness", "efficiency", "safety"})
    EXPECT_EQ(after.sum("troupe_critic_votes_total", {{"perspective", perspective}}) -
                  before.sum("troupe_critic_votes_total", {{"perspective", perspective}}),
              decisions)
        << perspective;
  EXPECT_GE(after.at("troupe_event_subscribers", {{"transport", "ws"}}), 1);
  EXPECT_GE(moved("troupe_events_delivered_total", {{"transport", "ws"}}), 2);
  EXPECT_EQ(after.at("troupe_database_up"), 1);
  EXPECT_EQ(after.at("troupe_nodes_up"), 1);
  EXPECT_GT(after.at("troupe_db_pool_size"), 0);
  EXPECT_GT(after.at("process_resident_memory_bytes"), 0);
  EXPECT_GT(after.at("process_cpu_seconds_total"), 0); // the process has run
  EXPECT_EQ(after.at("troupe_build_info",
                     {{"version", status_of(node.address())["version"].get<std::string>()}}),
            1);
}

TEST(Status, ReflectsQueuedAndRunningJobs) {
  // One node queues and answers; the other runs at most two noop jobs at once.
  auto conninfo = fresh_database("observability_status");
  test_node api{conninfo, [](config::settings& s) { s.jobs.run_jobs = false; }};
  auto u = make_user(api.address());
  auto kind_of = [](const json& status, const std::string& kind) {
    auto k = status["jobs"]["by_kind"];
    return k.contains(kind) ? k[kind] : json{{"queued", 0}, {"running", 0}};
  };
  auto idle = status_of(api.address());
  for (auto kind : {"evolution", "critique"}) // always listed, even with nothing queued
    EXPECT_TRUE(idle["jobs"]["by_kind"].contains(kind)) << idle.dump();
  auto base = kind_of(idle, "noop");
  std::vector<std::string> ids;
  json forever = {{"steps", 100000}, {"step_ms", 50}};
  for (int i = 0; i < 3; ++i)
    ids.push_back(enqueue_noop(conninfo, u.id, forever, 3, true, -60));

  auto queued = status_of(api.address());
  EXPECT_EQ(kind_of(queued, "noop")["queued"], base["queued"].get<long long>() + 3);
  EXPECT_GE(kind_of(queued, "noop")["oldest_queued_age_s"].get<double>(), 60);
  EXPECT_EQ(queued["jobs"]["queued"], 3); // a database of its own: nothing else is queued
  EXPECT_GE(queued["jobs"]["oldest_queued_age_s"].get<double>(), 60);
  EXPECT_TRUE(queued["database"]["ok"].get<bool>());
  EXPECT_GT(queued["database"]["latency_ms"].get<double>(), 0); // a real round trip takes time
  auto metrics = scrape(api.address());
  EXPECT_EQ(metrics.at("troupe_queue_depth", {{"kind", "noop"}}),
            kind_of(queued, "noop")["queued"].get<double>());
  EXPECT_GE(metrics.at("troupe_queue_oldest_age_seconds", {{"kind", "noop"}}), 60);

  // Process-wide: nodes of earlier tests that stopped mid-job may have left it off zero.
  auto running_before = scrape(api.address()).at("troupe_jobs_running", {{"kind", "noop"}});
  std::string worker_id;
  {
    test_node worker{conninfo, [](config::settings& s) {
                       s.jobs.enable_noop = true;
                       s.jobs.noop_concurrency = 2;
                       s.jobs.claim_batch = 2;
                     }};
    worker_id = worker.node->node_id();
    json running;
    EXPECT_TRUE(eventually([&] {
      running = status_of(api.address());
      return kind_of(running, "noop")["running"] == base["running"].get<long long>() + 2;
    }));
    EXPECT_EQ(kind_of(running, "noop")["queued"], base["queued"].get<long long>() + 1);
    std::set<std::string> up;
    for (const auto& n : running["nodes"])
      if (n["up"].get<bool>())
        up.insert(n["id"].get<std::string>());
    EXPECT_TRUE(up.count(api.node->node_id()));
    EXPECT_TRUE(up.count(worker.node->node_id()));
    auto m = scrape(api.address());
    EXPECT_EQ(m.at("troupe_jobs_running", {{"kind", "noop"}}) - running_before,
              2); // the worker shares this process
    EXPECT_EQ(m.at("troupe_job_leases_active"), 2);
    EXPECT_EQ(m.at("troupe_nodes_up"), 2);
    EXPECT_EQ(m.at("troupe_nodes_stale"), 0);

    http_client c{api.address()};
    for (const auto& id : ids)
      EXPECT_EQ(c.send("POST", "/v1/jobs/" + id + "/cancel", "", u.auth()).status, 200);
    EXPECT_TRUE(eventually([&] {
      return kind_of(status_of(api.address()), "noop")["running"] == base["running"];
    }));
  }
  // The worker drained and left the registry.
  // (The status is held in a variable: a range-for keeps only the outermost
  // temporary alive, not the document the index reads from.)
  auto status = status_of(api.address());
  for (const auto& n : status["nodes"])
    EXPECT_NE(n["id"], worker_id);
}

} // namespace
