#include "actors/evolution/reflection.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

namespace troupe::evolution {
namespace {

bool id_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos)
    return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string{s.substr(b, e - b + 1)};
}

bool starts_with_marker(const std::string& line) {
  static const char* markers[] = {"Lesson:", "Insight:", "Avoid:", "Always", "Never"};
  return std::any_of(std::begin(markers), std::end(markers),
                     [&](const char* m) { return line.rfind(m, 0) == 0; });
}

void collect_marked(const std::string& text, std::vector<std::string>& out) {
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    auto line = trim(std::string_view{text}.substr(start, end - start));
    if (starts_with_marker(line))
      out.push_back(line);
    start = end + 1;
  }
}

std::string first_sentence(const std::string& text) {
  auto t = trim(text);
  for (std::size_t i = 0; i < t.size(); ++i)
    if ((t[i] == '.' || t[i] == '!' || t[i] == '?') &&
        (i + 1 == t.size() || std::isspace(static_cast<unsigned char>(t[i + 1]))))
      return t.substr(0, i + 1);
  auto nl = t.find('\n');
  return trim(t.substr(0, nl));
}

} // namespace

std::string tag_for(const std::string& outcome) {
  if (outcome == "success")
    return "helpful";
  if (outcome == "failure")
    return "harmful";
  return "neutral";
}

std::vector<std::string> ids_in_text(const std::string& text) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!id_char(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && id_char(text[j]))
      ++j;
    std::string token = text.substr(i, j - i);
    auto dash = token.rfind('-');
    bool looks_like_id = dash != std::string::npos && dash > 0 && token.size() - dash - 1 >= 5 &&
                         std::all_of(token.begin() + static_cast<long>(dash) + 1, token.end(),
                                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (looks_like_id && seen.insert(token).second)
      out.push_back(token);
    i = j;
  }
  return out;
}

std::string extract_insight(const outcome_record& o) {
  std::vector<std::string> marked;
  collect_marked(o.notes, marked);
  collect_marked(o.reasoning_trace, marked);
  if (!marked.empty()) {
    std::string joined;
    for (const auto& m : marked)
      joined += (joined.empty() ? "" : " ") + m;
    return joined;
  }
  if (o.outcome != "success" && !trim(o.notes).empty())
    return first_sentence(o.notes);
  return {};
}

known_ids bullet_ids_of(const playbook::document& doc) {
  known_ids out;
  for (const auto& s : doc.sections)
    for (const auto& l : s.lines)
      if (l.is_bullet)
        out.insert(l.b.id);
  return out;
}

reflection reflect(const outcome_record& o, const playbook::document& doc) {
  return reflect(o, bullet_ids_of(doc));
}

reflection reflect(const outcome_record& o, const known_ids& known) {
  reflection r;
  r.source = o.bullet_ids.empty() ? "reasoning_trace" : "bullet_ids";
  auto used = o.bullet_ids.empty() ? ids_in_text(o.reasoning_trace) : o.bullet_ids;
  std::set<std::string> seen;
  auto tag = tag_for(o.outcome);
  for (const auto& id : used) {
    if (!seen.insert(id).second)
      continue;
    if (known.count(id))
      r.bullet_tags.push_back({id, tag});
    else if (!o.bullet_ids.empty())
      r.unknown_ids.push_back(id); // ids found in free text that are not bullets are just words
  }
  r.insight = extract_insight(o);
  return r;
}

nlohmann::json to_json(const reflection& r) {
  auto tags = nlohmann::json::array();
  for (const auto& t : r.bullet_tags)
    tags.push_back({{"id", t.id}, {"tag", t.tag}});
  nlohmann::json out = {
      {"bullet_tags", tags},
      {"unknown_ids", r.unknown_ids},
      {"key_insight", r.insight.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.insight)},
      {"source", r.source}};
  if (!r.detail.is_null())
    out["llm"] = r.detail;
  return out;
}

int apply_tags(playbook::document& doc, const std::vector<reflection>& reflections) {
  std::map<std::string, std::pair<int, int>> delta; // id → (helpful, harmful)
  for (const auto& r : reflections)
    for (const auto& t : r.bullet_tags) {
      if (t.tag == "helpful")
        ++delta[t.id].first;
      else if (t.tag == "harmful")
        ++delta[t.id].second;
    }
  int increments = 0;
  std::set<std::string> applied; // a duplicated id is counted on its first bullet only
  for (auto& s : doc.sections)
    for (auto& l : s.lines) {
      if (!l.is_bullet || !applied.insert(l.b.id).second)
        continue;
      auto it = delta.find(l.b.id);
      if (it == delta.end())
        continue;
      l.b.helpful += it->second.first;
      l.b.harmful += it->second.second;
      increments += it->second.first + it->second.second;
    }
  return increments;
}

} // namespace troupe::evolution
