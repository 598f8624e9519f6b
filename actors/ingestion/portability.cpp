#include "actors/ingestion/portability.hpp"

#include "actors/playbooks/playbooks.hpp"
#include "messages/api_error.hpp"
#include "runtime/crypto.hpp"
#include "runtime/input.hpp"
#include "runtime/outbox.hpp"

#include <algorithm>
#include <pqxx/pqxx>

namespace troupe::ingestion {
namespace {

using json = nlohmann::json;

std::size_t as_size(std::int64_t v) { return static_cast<std::size_t>(v); }

// Runs `read` on one element of the document; its api_error names the
// element ("versions[3].content" for field "content" of versions[3]).
template <class F>
auto at(const std::string& where, F&& read) {
  try {
    return read();
  } catch (const api_error& e) {
    auto field = e.field.empty() ? where : where + "." + e.field;
    throw api_error(e.status, e.code, where + ": " + e.what(), field);
  }
}

const json& object_member(const json& doc, const std::string& name) {
  auto it = doc.find(name);
  if (it == doc.end() || !it->is_object())
    throw invalid_argument(name, name + " must be an object");
  return *it;
}

const json& array_member(const json& doc, const std::string& name) {
  static const json empty = json::array();
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null())
    return empty;
  if (!it->is_array())
    throw invalid_argument(name, name + " must be an array");
  return *it;
}

std::optional<std::string> timestamp_field(const json& obj, const std::string& field) {
  auto v = input::string_field(obj, field, {0, 64}, false);
  if (v && !is_rfc3339(*v))
    throw invalid_argument(field, field + " must be an RFC 3339 date-time");
  return v;
}

// What the export emits for a version and an outcome: the schema is closed.
imported_version read_version(const json& v, const portability_limits& limits,
                              std::int64_t& next_id) {
  if (!v.is_object())
    throw invalid_argument("", "a version must be an object");
  input::only_fields(v, {"number", "content", "bullet_count", "token_estimate", "diff_summary",
                         "created_at"});
  imported_version out;
  out.number = static_cast<int>(*input::int_field(v, "number", 1, 1000000000, true));
  auto raw = *input::string_field(v, "content", {0, as_size(limits.playbooks.max_content_bytes)},
                                  true);
  auto prepared = playbooks::prepare_content(raw, next_id);
  next_id = prepared.next_id;
  out.content = std::move(prepared.text);
  out.bullet_count = prepared.bullet_count;
  out.token_estimate = prepared.token_estimate;
  out.diff_summary = input::string_field(v, "diff_summary", {0, 4096}, false);
  out.created_at = timestamp_field(v, "created_at");
  return out;
}

imported_outcome read_outcome(const json& o, const portability_limits& limits) {
  if (!o.is_object())
    throw invalid_argument("", "an outcome must be an object");
  input::only_fields(o, {"task_description", "outcome", "reasoning_trace", "notes", "bullet_ids",
                         "metadata", "processed_at", "created_at"});
  imported_outcome out;
  auto own = o;
  own.erase("processed_at");
  own.erase("created_at");
  outcome_fields(own, limits.outcomes, out.fields);
  out.processed_at = timestamp_field(o, "processed_at");
  out.created_at = timestamp_field(o, "created_at");
  return out;
}

} // namespace

bool is_rfc3339(std::string_view s) {
  if (!input::is_timestamp(s))
    return false;
  // Years 0002..9998 only: an offset may move the instant across a year,
  // and what is exported (in UTC) must read back. A fraction of at most
  // nanoseconds.
  int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  auto fraction = s[19] == '.' ? s.substr(20, s.find_first_not_of("0123456789", 20) - 20).size() : 0;
  return year >= 2 && year <= 9998 && fraction <= 9;
}

import_document read_import(const json& doc, const portability_limits& limits) {
  if (!doc.is_object())
    throw api_error(400, "invalid_json", "the document must be a JSON object");
  input::only_fields(doc, {"format", "format_version", "exported_at", "playbook", "versions",
                           "outcomes"});
  if (doc.value("format", json(nullptr)) != export_format)
    throw invalid_argument("format", std::string{"format must be \""} + export_format + "\"");
  if (doc.value("format_version", json(nullptr)) != export_format_version)
    throw invalid_argument("format_version", "format_version must be " +
                                                 std::to_string(export_format_version) +
                                                 " (the only version this server reads)");
  timestamp_field(doc, "exported_at");
  import_document out;
  const auto& p = object_member(doc, "playbook");
  at("playbook", [&] {
    input::only_fields(p, {"id", "name", "description", "status", "source",
                           "evolution_threshold", "next_bullet_id", "current_version",
                           "last_evolved_at", "created_at", "updated_at"});
    out.name = *input::string_field(p, "name", playbooks::name_limits(limits.playbooks), true);
    out.description =
        input::string_field(p, "description", playbooks::description_limits(limits.playbooks), false)
            .value_or("");
    auto status = input::string_field(p, "status", {1, 16}, false).value_or("active");
    if (status != "active" && status != "archived")
      throw invalid_argument("status", "status must be one of active, archived");
    out.status = status;
    out.evolution_threshold = static_cast<int>(
        input::int_field(p, "evolution_threshold", 1, 1000000, false)
            .value_or(limits.playbooks.default_evolution_threshold));
    out.next_bullet_id =
        input::int_field(p, "next_bullet_id", 1, std::int64_t{1} << 52, false).value_or(1);
    if (auto n = input::int_field(p, "current_version", 1, 1000000000, false))
      out.current_version = static_cast<int>(*n);
    out.last_evolved_at = timestamp_field(p, "last_evolved_at");
    // id, source and the playbook's own timestamps are the original's: the
    // import is a new playbook, with its own.
  });
  std::int64_t next_id = out.next_bullet_id;
  const auto& versions = array_member(doc, "versions");
  for (std::size_t i = 0; i < versions.size(); ++i) {
    auto where = "versions[" + std::to_string(i) + "]";
    out.versions.push_back(at(where, [&] { return read_version(versions[i], limits, next_id); }));
    if (i > 0 && out.versions[i].number <= out.versions[i - 1].number)
      throw invalid_argument(where + ".number", where + ": version numbers must ascend");
  }
  out.next_bullet_id = next_id;
  if (out.current_version) {
    bool known = false;
    for (const auto& v : out.versions)
      known = known || v.number == *out.current_version;
    if (!known)
      throw invalid_argument("playbook.current_version",
                             "playbook.current_version must be the number of one of versions");
  } else if (!out.versions.empty()) {
    out.current_version = out.versions.back().number;
  }
  const auto& outcomes = array_member(doc, "outcomes");
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    out.outcomes.push_back(at("outcomes[" + std::to_string(i) + "]",
                              [&] { return read_outcome(outcomes[i], limits); }));
  return out;
}

api_response export_playbook(pqxx::connection& conn, const api_request& req,
                             const portability_limits& limits) {
  auto id = input::uuid_param(req, 0, "id");
  pqxx::read_transaction tx{conn};
  playbooks::require_owned(tx, id, req.caller.user_id);
  // The document's size is known, give or take JSON escapes, before it is
  // built: one larger than an import may be is refused, not assembled.
  auto estimate =
      tx.exec_params("SELECT coalesce((SELECT sum(octet_length(content) + 200) FROM playbook_versions"
                     " WHERE playbook_id = $1), 0) + coalesce((SELECT sum(octet_length(task_description)"
                     " + coalesce(octet_length(reasoning_trace), 0) + coalesce(octet_length(notes), 0)"
                     " + octet_length(metadata::text) + octet_length(array_to_string(bullet_ids, ','))"
                     " + 16 * cardinality(bullet_ids) + 250) FROM outcomes WHERE playbook_id = $1), 0)",
                     id)[0][0]
          .as<std::int64_t>();
  auto too_large = [&](std::int64_t bytes) {
    return api_error(422, "unprocessable",
                     "the export would be about " + std::to_string(bytes) +
                         " bytes, more than playbooks.max_import_bytes (" +
                         std::to_string(limits.playbooks.max_import_bytes) +
                         "), so it could not be imported either");
  };
  // Text that is mostly escapes grows up to sixfold in JSON: the check after
  // the document is built catches that; this one keeps the common case from
  // being built at all.
  if (estimate > limits.playbooks.max_import_bytes)
    throw too_large(estimate);
  auto rows = tx.exec_params(
      "SELECT json_build_object("
      " 'format', $2::text, 'format_version', $3::int, 'exported_at', rfc3339(now()),"
      " 'playbook', json_build_object('id', p.id, 'name', p.name, 'description', p.description,"
      "   'status', p.status, 'source', p.source, 'evolution_threshold', p.evolution_threshold,"
      "   'next_bullet_id', p.next_bullet_id,"
      "   'current_version', (SELECT version_number FROM playbook_versions"
      "                       WHERE id = p.current_version_id),"
      "   'last_evolved_at', rfc3339(p.last_evolved_at), 'created_at', rfc3339(p.created_at),"
      "   'updated_at', rfc3339(p.updated_at)),"
      " 'versions', coalesce((SELECT json_agg(json_build_object('number', v.version_number,"
      "   'content', v.content, 'bullet_count', v.bullet_count,"
      "   'token_estimate', v.token_estimate, 'diff_summary', v.diff_summary,"
      "   'created_at', rfc3339(v.created_at)) ORDER BY v.version_number)"
      "   FROM playbook_versions v WHERE v.playbook_id = p.id), '[]'::json),"
      " 'outcomes', coalesce((SELECT json_agg(json_build_object('task_description',"
      "   o.task_description, 'outcome', o.outcome_status, 'reasoning_trace', o.reasoning_trace,"
      "   'notes', o.notes, 'bullet_ids', o.bullet_ids, 'metadata', o.metadata,"
      "   'processed_at', rfc3339(o.processed_at), 'created_at', rfc3339(o.created_at))"
      "   ORDER BY o.created_at, o.id) FROM outcomes o WHERE o.playbook_id = p.id), '[]'::json)"
      ")::text FROM playbooks p WHERE p.id = $1",
      id, export_format, export_format_version);
  std::string body = rows[0][0].c_str();
  if (static_cast<std::int64_t>(body.size()) > limits.playbooks.max_import_bytes)
    throw too_large(static_cast<std::int64_t>(body.size()));
  api_response r;
  r.status = 200;
  r.body = std::move(body);
  r.headers["Content-Disposition"] = "attachment; filename=\"playbook-" + id + ".json\"";
  return r;
}

api_response import_playbook(pqxx::connection& conn, const api_request& req,
                             const portability_limits& limits) {
  auto doc = read_import(input::object_body(req), limits);
  auto id = crypto::uuid_v7();
  const auto& user = req.caller.user_id;
  json versions = json::array();
  std::optional<std::string> current_id;
  for (const auto& v : doc.versions) {
    auto vid = crypto::uuid_v7();
    if (doc.current_version == v.number)
      current_id = vid;
    versions.push_back({{"id", vid},
                        {"number", v.number},
                        {"content", v.content},
                        {"bullet_count", v.bullet_count},
                        {"token_estimate", v.token_estimate},
                        {"diff_summary", v.diff_summary ? json(*v.diff_summary) : json(nullptr)},
                        {"created_at", v.created_at ? json(*v.created_at) : json(nullptr)}});
  }
  // Listings go by id: the new ids ascend in the document's (oldest first)
  // order, which UUIDv7s made in one millisecond need not.
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < doc.outcomes.size(); ++i)
    ids.push_back(crypto::uuid_v7());
  std::sort(ids.begin(), ids.end());
  json outcomes = json::array();
  int pending = 0;
  for (std::size_t i = 0; i < doc.outcomes.size(); ++i) {
    const auto& o = doc.outcomes[i];
    const auto& f = o.fields;
    pending += o.processed_at ? 0 : 1;
    outcomes.push_back({{"id", ids[i]},
                        {"task_description", f.task_description},
                        {"outcome_status", f.outcome},
                        {"reasoning_trace", f.reasoning_trace ? json(*f.reasoning_trace) : json(nullptr)},
                        {"notes", f.notes ? json(*f.notes) : json(nullptr)},
                        {"bullet_ids", f.bullet_ids},
                        {"metadata", json::parse(f.metadata)},
                        {"processed_at", o.processed_at ? json(*o.processed_at) : json(nullptr)},
                        {"created_at", o.created_at ? json(*o.created_at) : json(nullptr)}});
  }
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO playbooks (id, user_id, name, description, status, source,"
                 " evolution_threshold, pending_outcomes, next_bullet_id, last_evolved_at)"
                 " VALUES ($1, $2, $3, $4, $5, 'imported', $6, $7, $8, $9::timestamptz)",
                 id, user, doc.name, doc.description, doc.status, doc.evolution_threshold, pending,
                 doc.next_bullet_id, doc.last_evolved_at);
  if (!versions.empty())
    tx.exec_params("INSERT INTO playbook_versions (id, playbook_id, version_number, content,"
                   " bullet_count, token_estimate, diff_summary, created_at)"
                   " SELECT x.id, $1, x.number, x.content, x.bullet_count, x.token_estimate,"
                   " x.diff_summary, coalesce(x.created_at, now())"
                   " FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, number int, content text,"
                   " bullet_count int, token_estimate int, diff_summary text, created_at timestamptz)",
                   id, versions.dump());
  if (!outcomes.empty())
    tx.exec_params("INSERT INTO outcomes (id, playbook_id, task_description, outcome_status,"
                   " reasoning_trace, notes, bullet_ids, metadata, processed_at, created_at)"
                   " SELECT x.id, $1, x.task_description, x.outcome_status, x.reasoning_trace,"
                   " x.notes, ARRAY(SELECT jsonb_array_elements_text(x.bullet_ids)), x.metadata,"
                   " x.processed_at, coalesce(x.created_at, now())"
                   " FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, task_description text,"
                   " outcome_status text, reasoning_trace text, notes text, bullet_ids jsonb,"
                   " metadata jsonb, processed_at timestamptz, created_at timestamptz)",
                   id, outcomes.dump());
  if (current_id) {
    tx.exec_params("UPDATE playbooks SET current_version_id = $2 WHERE id = $1", id, *current_id);
    runtime::insert_events(tx, {{"playbook.version_created", user, id, "",
                                 {{"playbook_id", id},
                                  {"version", *doc.current_version},
                                  {"job_id", nullptr},
                                  {"diff_summary", "imported"}}}});
  }
  auto out = playbooks::fetch_playbook(tx, id, user);
  tx.commit();
  return json_response(201, out);
}

} // namespace troupe::ingestion
