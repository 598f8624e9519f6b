// Pure rules of the engine: retry back-off, the ingestion trigger rule and
// batch assembly, outcome validation, and the built-in reflector.
#include "actors/evolution/reflection.hpp"
#include "actors/ingestion/outcome_rules.hpp"
#include "actors/job_runner/backoff.hpp"
#include "messages/errors.hpp"
#include "messages/jobs.hpp"

#include <gtest/gtest.h>

using namespace troupe;
using namespace std::chrono_literals;

// ---- job status names ---------------------------------------------------------------

TEST(JobStatus, NamesAreTheColumnsValuesAndRoundTrip) {
  for (auto s : {job_status::queued, job_status::running, job_status::completed,
                 job_status::failed, job_status::cancelled})
    EXPECT_EQ(job_status_of(to_string(s)), s);
  EXPECT_EQ(to_string(job_status::cancelled), "cancelled");
  EXPECT_FALSE(job_status_of("lost").has_value()); // an attempt's end, never a job's status
  EXPECT_FALSE(job_status_of("").has_value());
  EXPECT_EQ(to_string(attempt_end::lost), "lost");
}

// ---- back-off -------------------------------------------------------------------

TEST(Backoff, DoublesPerAttemptAroundTheBase) {
  using job_runner::retry_delay;
  EXPECT_EQ(retry_delay(1, 1000ms, 3600000ms, 0.5), 1000ms); // jitter factor 1.0 at 0.5
  EXPECT_EQ(retry_delay(2, 1000ms, 3600000ms, 0.5), 2000ms);
  EXPECT_EQ(retry_delay(3, 1000ms, 3600000ms, 0.5), 4000ms);
  EXPECT_EQ(retry_delay(6, 1000ms, 3600000ms, 0.5), 32000ms);
}

TEST(Backoff, JitterStaysWithinAQuarter) {
  using job_runner::retry_delay;
  EXPECT_EQ(retry_delay(3, 1000ms, 3600000ms, 0.0), 3000ms);
  EXPECT_EQ(retry_delay(3, 1000ms, 3600000ms, 0.999999).count() / 10, 499);
  for (double u = 0; u < 1; u += 0.01) {
    auto d = retry_delay(4, 100ms, 3600000ms, u);
    EXPECT_GE(d, 600ms);
    EXPECT_LT(d, 1000ms);
  }
}

TEST(Backoff, IsCappedAndNeverOverflows) {
  using job_runner::retry_delay;
  EXPECT_EQ(retry_delay(30, 1000ms, 60000ms, 0.99), 60000ms);
  EXPECT_EQ(retry_delay(1000, 1000ms, 60000ms, 0.0), 60000ms);
  EXPECT_EQ(retry_delay(0, 1000ms, 60000ms, 0.5), 1000ms);
  EXPECT_EQ(retry_delay(-5, 1000ms, 60000ms, 0.5), 1000ms);
}

// ---- trigger rule -------------------------------------------------------------------

TEST(TriggerRule, ThresholdIsReachedExactlyAtN) {
  ingestion::playbook_state p{3, 5, false};
  EXPECT_FALSE(ingestion::position(p, 1).threshold_reached); // 4
  EXPECT_TRUE(ingestion::position(p, 2).threshold_reached);  // 5
  EXPECT_EQ(ingestion::position(p, 2).pending_after, 5);
  EXPECT_EQ(ingestion::first_reaching(p, 1), 0);
  EXPECT_EQ(ingestion::first_reaching(p, 4), 2);
  EXPECT_FALSE(ingestion::must_enqueue(p, 1));
  EXPECT_TRUE(ingestion::must_enqueue(p, 2));
}

TEST(TriggerRule, AnActiveJobMeansNoNewOne) {
  ingestion::playbook_state p{10, 5, true};
  EXPECT_FALSE(ingestion::must_enqueue(p, 3));
  EXPECT_EQ(ingestion::first_reaching(p, 3), 1);
}

TEST(TriggerRule, ABacklogOverTheThresholdTriggersOnTheFirstNewOutcome) {
  ingestion::playbook_state p{7, 5, false}; // e.g. after a failed job
  EXPECT_TRUE(ingestion::must_enqueue(p, 1));
  EXPECT_EQ(ingestion::first_reaching(p, 1), 1);
}

TEST(BatchAssembly, RepeatedKeysPointAtTheirFirstOccurrence) {
  std::vector<std::optional<std::string>> keys = {"a", std::nullopt, "b", "a", std::nullopt, "b",
                                                  "a"};
  auto first = ingestion::first_occurrences(keys);
  EXPECT_EQ(first, (std::vector<std::size_t>{0, 1, 2, 0, 4, 2, 0}));
}

// ---- outcome validation -------------------------------------------------------------

namespace {

api_request outcome_request(const std::string& body) {
  api_request r;
  r.params = {"0190a0b0-0000-7000-8000-000000000001"};
  r.body = body;
  r.caller.user_id = "u";
  return r;
}

void expect_refused(const std::string& body, int status, const std::string& field,
                    const config::outcomes_settings& limits = {}) {
  try {
    ingestion::parse_outcome(outcome_request(body), limits);
    ADD_FAILURE() << "accepted: " << body;
  } catch (const api_error& e) {
    EXPECT_EQ(e.status, status) << body;
    EXPECT_EQ(e.field, field) << body;
  }
}

} // namespace

TEST(OutcomeInput, AcceptsAFullOutcome) {
  auto in = ingestion::parse_outcome(
      outcome_request(R"({"task_description":"t","outcome":"partial","reasoning_trace":"r",
        "notes":"n","bullet_ids":["sai-00001"],"metadata":{"k":1}})"),
      {});
  EXPECT_EQ(in.outcome, "partial");
  EXPECT_EQ(in.bullet_ids, std::vector<std::string>{"sai-00001"});
  EXPECT_EQ(in.metadata, R"({"k":1})");
}

TEST(OutcomeInput, RefusesBadFieldsNamingThem) {
  expect_refused(R"({"outcome":"success"})", 400, "task_description");
  expect_refused(R"({"task_description":"","outcome":"success"})", 400, "task_description");
  expect_refused(R"({"task_description":"t","outcome":"won"})", 400, "outcome");
  expect_refused(R"({"task_description":"t","outcome":"success","bullet_ids":"x"})", 400,
                 "bullet_ids");
  expect_refused(R"({"task_description":"t","outcome":"success","metadata":[1]})", 400,
                 "metadata");
  expect_refused(R"({"task_description":"t","outcome":"success","extra":1})", 400, "extra");
  config::outcomes_settings small;
  small.max_notes_bytes = 4;
  small.max_bullet_ids = 1;
  small.max_metadata_bytes = 8;
  expect_refused(R"({"task_description":"t","outcome":"success","notes":"12345"})", 413, "notes",
                 small);
  expect_refused(R"({"task_description":"t","outcome":"success","bullet_ids":["a","b"]})", 413,
                 "bullet_ids", small);
  expect_refused(R"({"task_description":"t","outcome":"success","metadata":{"long":"value"}})",
                 413, "metadata", small);
}

TEST(OutcomeInput, IdempotencyKeyMustBeReasonable) {
  auto r = outcome_request(R"({"task_description":"t","outcome":"success"})");
  r.headers["idempotency-key"] = std::string(256, 'k');
  EXPECT_THROW(ingestion::parse_outcome(r, {}), api_error);
  r.headers["idempotency-key"] = "key-1";
  EXPECT_EQ(ingestion::parse_outcome(r, {}).idempotency_key, "key-1");
}

// ---- reflector ----------------------------------------------------------------------

namespace {

const char* playbook_text = "## STRATEGIES & INSIGHTS\n"
                            "[sai-00001] helpful=1 harmful=0 :: Check pagination.\n"
                            "## COMMON MISTAKES TO AVOID\n"
                            "[err-00002] helpful=0 harmful=0 :: Do not assume local time.\n";

} // namespace

TEST(Reflector, TagsFollowTheOutcome) {
  EXPECT_EQ(evolution::tag_for("success"), "helpful");
  EXPECT_EQ(evolution::tag_for("failure"), "harmful");
  EXPECT_EQ(evolution::tag_for("partial"), "neutral");
}

TEST(Reflector, UsesBulletIdsOrIdsInTheTrace) {
  auto doc = playbook::parse(playbook_text);
  auto given = evolution::reflect({"o", "success", "", "", {"sai-00001", "nope-00009"}, ""}, doc);
  ASSERT_EQ(given.bullet_tags.size(), 1u);
  EXPECT_EQ(given.bullet_tags[0].id, "sai-00001");
  EXPECT_EQ(given.unknown_ids, std::vector<std::string>{"nope-00009"});
  auto traced = evolution::reflect(
      {"o", "failure", "", "Followed err-00002 and then sai-00001; err-00002 again", {}, ""}, doc);
  ASSERT_EQ(traced.bullet_tags.size(), 2u);
  EXPECT_EQ(traced.bullet_tags[0].id, "err-00002");
  EXPECT_EQ(traced.bullet_tags[0].tag, "harmful");
  EXPECT_EQ(traced.source, "reasoning_trace");
}

TEST(Reflector, ExtractsInsights) {
  EXPECT_EQ(evolution::extract_insight(
                {"o", "failure", "It broke.\nLesson: check the timezone first.", "", {}, ""}),
            "Lesson: check the timezone first.");
  EXPECT_EQ(evolution::extract_insight({"o", "failure", "The API paginates. Then more.", "", {}, ""}),
            "The API paginates.");
  EXPECT_EQ(evolution::extract_insight({"o", "success", "Went fine. Nothing else.", "", {}, ""}), "");
  EXPECT_EQ(evolution::extract_insight(
                {"o", "success", "", "step 1\n  Always verify backups.\nNever drop prod.", {}, ""}),
            "Always verify backups. Never drop prod.");
}

TEST(Reflector, CountersMoveByTheTags) {
  auto doc = playbook::parse(playbook_text);
  std::vector<evolution::reflection> rs = {
      evolution::reflect({"1", "success", "", "", {"sai-00001"}, ""}, doc),
      evolution::reflect({"2", "failure", "", "", {"sai-00001", "err-00002"}, ""}, doc),
      evolution::reflect({"3", "partial", "", "", {"err-00002"}, ""}, doc)};
  EXPECT_EQ(evolution::apply_tags(doc, rs), 3);
  auto bs = playbook::bullets(doc);
  EXPECT_EQ(bs[0].helpful, 2);
  EXPECT_EQ(bs[0].harmful, 1);
  EXPECT_EQ(bs[1].helpful, 0);
  EXPECT_EQ(bs[1].harmful, 1);
}

TEST(Reflector, IdsInText) {
  EXPECT_EQ(evolution::ids_in_text("use sai-00001, calc-00012 and x-1 or ab-cd-00003"),
            (std::vector<std::string>{"sai-00001", "calc-00012", "ab-cd-00003"}));
  EXPECT_TRUE(evolution::ids_in_text("").empty());
}
