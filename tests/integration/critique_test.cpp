// Critique jobs and the usage report through the real gateway and engine.
#include "runtime/crypto.hpp"
#include "tests/integration/harness.hpp"

#include <gtest/gtest.h>
#include <map>
#include <sstream>

using namespace troupe;
using namespace troupe::test;

namespace {

class Critiques : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    node_ = new test_node(shared_database().conninfo(), [](config::settings& s) {
      s.jobs.poll_interval_ms = 100;
      s.jobs.heartbeat_ms = 200;
    });
  }
  static void TearDownTestSuite() {
    delete node_;
    node_ = nullptr;
  }
  const std::string& address() { return node_->address(); }
  static test_node* node_;
};

test_node* Critiques::node_ = nullptr;

const json risky_plan = {
    {"goal", "Move the customer database to the new cluster"},
    {"plan",
     {{{"id", "s1"}, {"text", "Provision the new database cluster"}, {"depends_on", json::array()}},
      {{"id", "s2"},
       {"text", "Migrate the customer database to the new cluster"},
       {"depends_on", {"s1"}}},
      {{"id", "s3"}, {"text", "Point the application at the new cluster"}, {"depends_on", {"s2"}}}}}};

json wait_for(http_client& c, const user& u, const std::string& id) {
  json out;
  eventually([&] {
    out = c.send("GET", "/v1/critiques/" + id, "", u.auth()).doc();
    return out.value("status", "") == "completed" || out.value("status", "") == "failed";
  });
  return out;
}

// The votes the critic actors of this process have cast from `perspective`.
double critic_votes(const std::string& address, const std::string& perspective) {
  http_client c{address};
  std::istringstream lines{c.send("GET", "/metrics").body};
  double total = 0;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("troupe_critic_votes_total{", 0) == 0 &&
        line.find("perspective=\"" + perspective + "\"") != std::string::npos)
      total += std::stod(line.substr(line.rfind(' ') + 1));
  return total;
}

TEST_F(Critiques, ARiskyStepGainsASafeguardAndTheCritiqueConverges) {
  auto u = make_user(address());
  http_client c{address()};
  std::map<std::string, double> before;
  for (auto critic : {"completeness", "efficiency", "safety"})
    before[critic] = critic_votes(address(), critic);
  auto r = c.send("POST", "/v1/critiques", risky_plan.dump(), u.auth());
  ASSERT_EQ(r.status, 202) << r.body;
  auto id = r.doc()["job_id"].get<std::string>();
  auto done = wait_for(c, u, id);
  ASSERT_EQ(done["status"], "completed") << done.dump(2);
  EXPECT_EQ(done["converged_because"], "no_actionable_feedback") << done.dump(2);
  ASSERT_FALSE(done["iterations"].empty());
  auto first = done["iterations"][0];
  ASSERT_FALSE(first["feedback"].empty());
  bool safeguard = false;
  for (const auto& f : first["feedback"])
    safeguard |= f["kind"] == "add_safeguard" && f["accepted"].get<bool>();
  EXPECT_TRUE(safeguard) << first.dump(2);
  // The final plan backs up before it migrates.
  const auto& steps = done["final_plan"]["steps"];
  std::size_t migrate = steps.size(), backup = steps.size();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    auto text = steps[i]["text"].get<std::string>();
    if (text.find("Migrate") == 0)
      migrate = i;
    if (text.find("Back up") != std::string::npos)
      backup = i;
  }
  ASSERT_LT(migrate, steps.size()) << done["final_plan"].dump(2);
  EXPECT_LT(backup, migrate) << done["final_plan"].dump(2);
  auto votes = first["feedback"][0]["votes"];
  for (auto critic : {"completeness", "efficiency", "safety"})
    EXPECT_TRUE(votes[critic]["score"].is_number()) << critic;
  // The three critic actors voted on every item of every iteration (the
  // critique asked them, as evolution does).
  double items = 0;
  for (const auto& it : done["iterations"])
    items += static_cast<double>(it["feedback"].size());
  for (auto critic : {"completeness", "efficiency", "safety"})
    EXPECT_EQ(critic_votes(address(), critic) - before[critic], items) << critic;
  // Also an ordinary job, and every iteration was recorded.
  auto job = c.send("GET", "/v1/jobs/" + id, "", u.auth()).doc();
  EXPECT_EQ(job["kind"], "critique");
  EXPECT_EQ(job["rounds"].size(), done["iterations"].size());
}

TEST_F(Critiques, BadRequestsAreRefusedAndQueueNothing) {
  auto u = make_user(address());
  http_client c{address()};
  auto with = [&](const std::string& key, json value) {
    auto body = risky_plan;
    if (value.is_null())
      body.erase(key);
    else
      body[key] = value;
    return body.dump();
  };
  auto dup = risky_plan;
  dup["plan"][1]["id"] = "s1";
  auto unknown_dep = risky_plan;
  unknown_dep["plan"][0]["depends_on"] = {"s9"};
  std::vector<std::pair<std::string, std::string>> cases = {
      {"no plan", with("plan", nullptr)},
      {"empty plan", with("plan", json::array())},
      {"no goal", with("goal", nullptr)},
      {"duplicate ids", dup.dump()},
      {"unknown dependency", unknown_dep.dump()},
      {"threshold too high", with("threshold", 2)},
      {"weights not summing to 1",
       with("weights", {{"completeness", 0.5}, {"efficiency", 0.5}, {"safety", 0.5}})},
      {"max_iterations zero", with("max_iterations", 0)},
      {"unknown field", with("deadline", "tomorrow")},
  };
  auto before = table_counts(shared_database().conninfo());
  for (const auto& [name, body] : cases) {
    auto r = c.send("POST", "/v1/critiques", body, u.auth());
    EXPECT_EQ(r.status, 400) << name << ": " << r.body;
  }
  EXPECT_EQ(before, table_counts(shared_database().conninfo()));
  auto r = c.send("POST", "/v1/critiques", risky_plan.dump(), u.auth());
  auto id = r.doc()["job_id"].get<std::string>();
  auto stranger = make_user(address());
  EXPECT_EQ(c.send("GET", "/v1/critiques/" + id, "", stranger.auth()).status, 404);
  EXPECT_EQ(c.send("GET", "/v1/critiques/not-a-uuid", "", u.auth()).status, 400);
}

TEST_F(Critiques, UsageIsReportedPerCallerAndGrouped) {
  auto u = make_user(address());
  auto other = make_user(address());
  {
    pqxx::connection conn{shared_database().conninfo()};
    pqxx::work tx{conn};
    for (auto [who, op, model, tokens] :
         {std::tuple{u.id, "reflect", "gpt-x", 100}, std::tuple{u.id, "curate", "gpt-x", 50},
          std::tuple{u.id, "curate", "gpt-y", 25}, std::tuple{other.id, "reflect", "gpt-x", 999}})
      tx.exec_params("INSERT INTO usage_records (id, user_id, operation, model, prompt_tokens,"
                     " completion_tokens, total_tokens, cost_usd) VALUES ($1, $2, $3, $4, $5::int, 0,"
                     " $5::int, $5::int / 1000.0)",
                     crypto::uuid_v7(), who, op, model, tokens);
    tx.commit();
  }
  http_client c{address()};
  auto all = c.send("GET", "/v1/usage", "", u.auth()).doc();
  EXPECT_EQ(all["totals"]["total_tokens"], 175);
  EXPECT_EQ(all["totals"]["calls"], 3);
  EXPECT_NEAR(all["totals"]["cost_usd"].get<double>(), 0.175, 1e-9);
  auto by_op = c.send("GET", "/v1/usage?group_by=operation", "", u.auth()).doc();
  ASSERT_EQ(by_op["items"].size(), 2u);
  EXPECT_EQ(by_op["items"][0]["key"], "curate");
  EXPECT_EQ(by_op["items"][0]["total_tokens"], 75);
  auto by_model = c.send("GET", "/v1/usage?group_by=model&from=2000-01-01", "", u.auth()).doc();
  EXPECT_EQ(by_model["items"].size(), 2u);
  auto empty = c.send("GET", "/v1/usage?from=2000-01-01&to=2000-01-02T00:00:00Z", "", u.auth());
  EXPECT_EQ(empty.doc()["totals"]["total_tokens"], 0);
  EXPECT_EQ(c.send("GET", "/v1/usage?group_by=week", "", u.auth()).status, 400);
  EXPECT_EQ(c.send("GET", "/v1/usage?from=yesterday", "", u.auth()).status, 400);
  EXPECT_EQ(c.send("GET", "/v1/usage?from=2024-13-45T99:99:99Z", "", u.auth()).status, 400);
}

} // namespace

// GET /v1/jobs/stats, the dashboard's overview: the caller's jobs by kind,
// and per minute of the last hour the jobs finished and the queue depth;
// another user's jobs count for nothing.
TEST_F(Critiques, JobStatsCountTheCallersJobsByKindAndMinute) {
  http_client c{address()};
  auto u = make_user(address());
  auto other = make_user(address());
  auto before = c.send("GET", "/v1/jobs/stats", "", u.auth());
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.doc()["by_kind"], json::object());
  EXPECT_EQ(before.doc()["oldest_queued_age_s"], 0);
  ASSERT_EQ(before.doc()["per_minute"].size(), 60u);
  for (int i = 0; i < 2; ++i) {
    auto r = c.send("POST", "/v1/critiques", risky_plan.dump(), u.auth());
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(wait_for(c, u, r.doc()["job_id"])["status"], "completed");
  }
  auto after = c.send("GET", "/v1/jobs/stats", "", u.auth()).doc();
  EXPECT_EQ(after["by_kind"]["critique"],
            (json{{"queued", 0}, {"running", 0}, {"completed_24h", 2}, {"failed_24h", 0}}))
      << after.dump();
  int completed = 0;
  for (const auto& m : after["per_minute"]) {
    completed += m["completed"].get<int>();
    EXPECT_EQ(m["queued"], 0) << m.dump();
  }
  EXPECT_EQ(completed, 2) << after.dump();
  auto theirs = c.send("GET", "/v1/jobs/stats", "", other.auth()).doc();
  EXPECT_EQ(theirs["by_kind"], json::object());
  // Scope: jobs:read.
  auto key = make_key(address(), u, json::array({"playbooks:read"}));
  EXPECT_EQ(c.send("GET", "/v1/jobs/stats", "", {{"Authorization", "Bearer " + key}}).status, 403);
}
