#include "actors/evolution/critics.hpp"

#include "actors/evolution/similarity.hpp"
#include "text/ascii.hpp"
#include "text/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string_view>

namespace troupe::evolution {
namespace {

namespace pb = troupe::playbook;

constexpr double agree = 1.0;
constexpr double neutral = 0.5;
constexpr double disagree = 0.0;

constexpr std::size_t min_words = 3;        // fewer is a fragment
constexpr std::int64_t high_helpful = 5;    // a high performer has helpful > this
constexpr std::int64_t high_harmful = 2;    // … and harmful < this
constexpr double acceptance_slack = 1e-9;   // 0.4·0.5 + 0.3·0.5 + 0.3·0.5 must reach 0.5
constexpr double similarity_slack = 1e-12;  // as similarity_index accepts a score

// ---------------------------------------------------------------- text

using text::is_alnum;
using text::is_space;
using text::lower;
using text::to_lower;

bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || text::is_digit(c); }

bool blank(std::string_view s) { return std::all_of(s.begin(), s.end(), is_space); }

// Lower-case words (ASCII letters and digits); everything else separates.
std::vector<std::string> words_of(std::string_view s) {
  return text::words(s, text::word_bytes::ascii);
}

template <std::size_t N>
bool one_of(std::string_view w, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), w) != set.end();
}

// A reason is one line whatever an id or a section name contains.
std::string one_line(std::string s) {
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return s;
}

vote make_vote(double score, std::string reason, bool critical = false, bool actionable = false) {
  return vote{score, one_line(std::move(reason)), critical, actionable};
}

std::string two_decimals(double x) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.2f", x);
  return buf.data();
}

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

// ---------------------------------------------------------------- operations

bool carries_content(const operation& op) {
  return op.type == "ADD" || op.type == "UPDATE" || op.type == "MERGE";
}

bool known_type(const operation& op) { return carries_content(op) || op.type == "DELETE"; }

struct located {
  const pb::section* section;
  const pb::bullet* bullet;
};

// The first bullet with `id`, as apply() finds it.
std::optional<located> locate(const pb::document* doc, std::string_view id) {
  if (!doc)
    return std::nullopt;
  for (const auto& s : doc->sections)
    for (const auto& l : s.lines)
      if (l.is_bullet && l.b.id == id)
        return located{&s, &l.b};
  return std::nullopt;
}

std::size_t bullets_in(const pb::section& s) {
  return static_cast<std::size_t>(
      std::count_if(s.lines.begin(), s.lines.end(), [](const pb::line& l) { return l.is_bullet; }));
}

std::string section_label(const pb::section& s) {
  return s.name.empty() ? "the preamble" : "section " + s.name;
}

// ---------------------------------------------------------------- efficiency

struct issue {
  std::string reason;
  bool actionable;
};

// The most similar bullet at or above the threshold, the earliest on a tie.
std::optional<issue> near_duplicate_issue(const pb::bullet& b, double score) {
  // revise() reads the id back from this reason.
  return issue{"near-duplicate of " + b.id + " (" + two_decimals(score) +
                   "): should be an UPDATE or MERGE",
               true};
}

std::optional<issue> near_duplicate(const operation& op, const critic_context& ctx) {
  if (op.type != "ADD" || !ctx.doc)
    return std::nullopt;
  if (ctx.facts) {
    // near() lists the best score first, ties in document order.
    auto found = ctx.facts->index.near(op.content);
    if (found.empty())
      return std::nullopt;
    return near_duplicate_issue(ctx.facts->bullets[found.front().index], found.front().score);
  }
  auto mine = shingles(op.content);
  const pb::bullet* best = nullptr;
  double best_score = 0;
  for (const auto& s : ctx.doc->sections)
    for (const auto& l : s.lines) {
      if (!l.is_bullet)
        continue;
      double score = jaccard(mine, shingles(l.b.content));
      if (score >= ctx.cfg.dedup_threshold - similarity_slack && (!best || score > best_score)) {
        best = &l.b;
        best_score = score;
      }
    }
  if (!best)
    return std::nullopt;
  return near_duplicate_issue(*best, best_score);
}

std::optional<issue> over_long(const operation& op, const critic_context& ctx) {
  if (!carries_content(op) || ctx.cfg.max_bullet_chars < 0)
    return std::nullopt;
  std::size_t n = text::code_points(op.content);
  if (n <= static_cast<std::size_t>(ctx.cfg.max_bullet_chars))
    return std::nullopt;
  return issue{"content is " + std::to_string(n) + " chars, over max_bullet_chars " +
                   std::to_string(ctx.cfg.max_bullet_chars),
               true};
}

// Growth is measured by applying the operation to a copy, so it counts
// exactly what apply() would write (new id, new heading, merged lines). Only
// operations that grow the playbook past the budget are blamed.
bool same_section(std::string_view a, std::string_view b) {
  return text::iequals(troupe::text::collapse_whitespace(a), troupe::text::collapse_whitespace(b));
}

// The printed size of the playbook after `op`, from the round's facts: only
// ADD and UPDATE can grow a playbook, and their growth is the bullet line
// (and a new section heading) or the content difference.
std::int64_t bytes_after(const operation& op, const critic_context& ctx) {
  const auto& f = *ctx.facts;
  auto content = static_cast<std::int64_t>(troupe::text::collapse_whitespace(op.content).size());
  if (op.type == "UPDATE") {
    for (const auto& b : f.bullets)
      if (b.id == op.id)
        return f.bytes + content - static_cast<std::int64_t>(b.content.size());
    return f.bytes;
  }
  auto id = pb::make_bullet_id(pb::section_slug(op.section), f.next_id);
  std::int64_t line = static_cast<std::int64_t>(id.size()) + 2 +
                      static_cast<std::int64_t>(std::string_view{" helpful=0 harmful=0 :: "}.size()) +
                      content + 1;
  bool section_exists = false;
  for (const auto& s : ctx.doc->sections)
    section_exists |= !s.name.empty() && same_section(s.name, op.section);
  if (!section_exists)
    line += 3 + static_cast<std::int64_t>(troupe::text::collapse_whitespace(op.section).size()) + 1;
  return f.bytes + line;
}

std::optional<issue> past_budget(const operation& op, const critic_context& ctx) {
  if (!carries_content(op) || !ctx.doc)
    return std::nullopt;
  std::int64_t before, after;
  if (ctx.facts && (op.type == "ADD" || op.type == "UPDATE")) {
    before = (ctx.facts->bytes + 3) / 4;
    after = (bytes_after(op, ctx) + 3) / 4;
  } else {
    before = pb::token_estimate(*ctx.doc);
    auto copy = *ctx.doc;
    auto next = pb::next_id_after(copy);
    apply(copy, {op}, next);
    after = pb::token_estimate(copy);
  }
  if (after <= before || after <= ctx.cfg.token_budget)
    return std::nullopt;
  return issue{"grows the playbook to " + std::to_string(after) + " tokens, past the budget " +
                   std::to_string(ctx.cfg.token_budget),
               false};
}

// ---------------------------------------------------------------- safety

struct finding {
  std::string what;
  std::string quote;
};

bool contains_phrase(const std::vector<std::string>& words, std::size_t at,
                     const std::vector<std::string_view>& phrase) {
  if (at + phrase.size() > words.size())
    return false;
  for (std::size_t k = 0; k < phrase.size(); ++k)
    if (words[at + k] != phrase[k])
      return false;
  return true;
}

std::string quote_words(const std::vector<std::string>& words, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t k = from; k < to && k < words.size(); ++k)
    out += (out.empty() ? "" : " ") + words[k];
  return out;
}

// "ignore|disregard|forget|override", up to three filler words of which one
// points at the agent's own instructions, then "instructions|rules|…"; or
// the noun followed by "above"/"before". Plain "ignore the rules" of some
// tool is not an override.
std::optional<finding> override_instructions(const std::vector<std::string>& w) {
  static constexpr std::array<std::string_view, 4> verbs{"ignore", "disregard", "forget",
                                                         "override"};
  static constexpr std::array<std::string_view, 16> fillers{
      "all",     "any",   "the",       "of",     "your",     "my",   "these",  "those",
      "previous", "prior", "above",    "earlier", "preceding", "system", "original", "every"};
  static constexpr std::array<std::string_view, 10> pointers{
      "all", "any", "your", "my", "previous", "prior", "above", "earlier", "preceding", "system"};
  static constexpr std::array<std::string_view, 11> nouns{
      "instructions", "instruction", "rules",     "directions", "directives", "guidelines",
      "prompt",       "prompts",     "guidance", "constraints", "policies"};
  static constexpr std::array<std::string_view, 4> after{"above", "before", "earlier", "previously"};
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (!one_of(w[i], verbs))
      continue;
    bool pointed = false;
    for (std::size_t j = i + 1; j < w.size() && j <= i + 4; ++j) {
      if (one_of(w[j], nouns)) {
        bool trailing = j + 1 < w.size() && one_of(w[j + 1], after);
        if (pointed || trailing)
          return finding{"tries to override instructions", quote_words(w, i, j + 1 + trailing)};
        break;
      }
      if (!one_of(w[j], fillers))
        break;
      pointed = pointed || one_of(w[j], pointers);
    }
  }
  return std::nullopt;
}

std::optional<finding> role_hijack(const std::vector<std::string>& w) {
  static const std::vector<std::vector<std::string_view>> phrases{
      {"you", "are", "now"},
      {"you", "re", "now"},
      {"from", "now", "on", "you", "are"},
      {"act", "as", "the", "system"},
      {"act", "as", "system"},
      {"act", "as", "a", "system"},
      {"pretend", "to", "be", "the", "system"},
      {"pretend", "you", "are", "the", "system"},
      {"new", "system", "prompt"},
      {"enter", "developer", "mode"},
      {"enable", "developer", "mode"},
  };
  for (std::size_t i = 0; i < w.size(); ++i)
    for (const auto& p : phrases)
      if (contains_phrase(w, i, p))
        return finding{"tries to hijack the agent's role", quote_words(w, i, i + p.size() + 1)};
  return std::nullopt;
}

std::size_t run_length(std::string_view s, std::size_t from, bool (*pred)(char)) {
  std::size_t i = from;
  while (i < s.size() && pred(s[i]))
    ++i;
  return i - from;
}

bool starts_token(std::string_view s, std::size_t at) { return at == 0 || !is_alnum(s[at - 1]); }

bool is_key_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }

bool is_bearer_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=' ||
         c == '-';
}

// Every position of `needle` in `hay` where a token starts.
template <typename F>
bool any_token_at(std::string_view hay, std::string_view needle, F&& match) {
  for (std::size_t at = hay.find(needle); at != std::string_view::npos;
       at = hay.find(needle, at + 1))
    if (starts_token(hay, at) && match(at + needle.size()))
      return true;
  return false;
}

bool aws_key(std::string_view s) {
  for (std::string_view prefix : {"AKIA", "ASIA"})
    if (any_token_at(s, prefix, [&](std::size_t p) { return run_length(s, p, is_upper_alnum) >= 16; }))
      return true;
  return false;
}

// "sk-" + 20 or more letters and digits; also the segmented forms
// ("sk-proj-…") when the rest holds 20 letters and digits including a digit.
bool api_key(std::string_view s) {
  return any_token_at(s, "sk-", [&](std::size_t p) {
    if (run_length(s, p, is_alnum) >= 20)
      return true;
    std::string_view rest = s.substr(p, run_length(s, p, is_key_char));
    auto alnum = std::count_if(rest.begin(), rest.end(), is_alnum);
    bool digit = std::any_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; });
    return alnum >= 20 && digit;
  });
}

bool github_token(std::string_view s) {
  for (std::string_view prefix : {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"})
    if (any_token_at(s, prefix, [&](std::size_t p) { return run_length(s, p, is_alnum) >= 20; }))
      return true;
  return any_token_at(s, "github_pat_",
                      [&](std::size_t p) { return run_length(s, p, is_key_char) >= 20; });
}

bool private_key(std::string_view s) {
  constexpr std::size_t max_label = 64; // "-----BEGIN OPENSSH PRIVATE KEY-----"
  for (auto at = s.find("-----BEGIN"); at != std::string_view::npos;
       at = s.find("-----BEGIN", at + 1)) {
    auto end = s.find("PRIVATE KEY-----", at);
    if (end != std::string_view::npos && end - at <= max_label)
      return true;
  }
  return false;
}

bool bearer_token(std::string_view s, std::string_view lowered) {
  return any_token_at(lowered, "bearer", [&](std::size_t p) {
    std::size_t spaces = run_length(s, p, is_space);
    return spaces > 0 && run_length(s, p + spaces, is_bearer_char) >= 20;
  });
}

// A value that stands for a secret rather than being one.
bool placeholder(std::string_view v) {
  static constexpr std::array<std::string_view, 8> words{
      "redacted", "null", "none", "empty", "hidden", "secret", "password", "your_password"};
  if (v.empty() || v.find("...") != std::string_view::npos || v.find("\u2026") != std::string_view::npos)
    return true;
  char c = v.front();
  if (c == '<' || c == '$' || c == '{' || c == '%' || c == '*' || c == '[')
    return true;
  if (std::all_of(v.begin(), v.end(), [](char x) { return x == 'x' || x == 'X'; }))
    return true;
  return one_of(lower(v), words);
}

// After "key:" prose goes on as often as a value does ("password: use the
// vault"); a value there must look like one: a digit, a symbol, or length.
bool looks_like_value(std::string_view v) {
  constexpr std::size_t long_value = 12;
  return v.size() >= long_value ||
         std::any_of(v.begin(), v.end(), [](char c) { return !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'); });
}

bool value_char(char c) { return !is_space(c) && c != '"' && c != '\'' && c != ',' && c != ';'; }

// "password=…", "password: …", "api_key=…" and friends with a real value.
bool assigned_secret(std::string_view s, std::string_view lowered) {
  static constexpr std::array<std::string_view, 9> keys{
      "password", "passwd", "api_key", "api-key", "apikey", "secret_key", "client_secret",
      "access_token", "auth_token"};
  for (std::string_view key : keys)
    for (auto at = lowered.find(key); at != std::string_view::npos; at = lowered.find(key, at + 1)) {
      std::size_t p = at + key.size();
      p += (p < s.size() && (s[p] == '"' || s[p] == '\'')) ? 1 : 0; // "password": "…"
      p += run_length(s, p, is_space);
      if (p >= s.size() || (s[p] != '=' && s[p] != ':'))
        continue;
      char sep = s[p++];
      p += run_length(s, p, is_space);
      p += (p < s.size() && (s[p] == '"' || s[p] == '\'')) ? 1 : 0;
      std::string_view v = s.substr(p, run_length(s, p, value_char));
      while (!v.empty() && (v.back() == '.' || v.back() == ')' || v.back() == '!' || v.back() == '?'))
        v.remove_suffix(1);
      if (!placeholder(v) && (sep == '=' || looks_like_value(v)))
        return true;
    }
  return false;
}

std::optional<finding> secret(std::string_view s) {
  std::string lowered = lower(s);
  if (aws_key(s))
    return finding{"leaks a secret", "AWS access key"};
  if (api_key(s))
    return finding{"leaks a secret", "sk- API key"};
  if (github_token(s))
    return finding{"leaks a secret", "GitHub token"};
  if (private_key(s))
    return finding{"leaks a secret", "private key"};
  if (bearer_token(s, lowered))
    return finding{"leaks a secret", "bearer token"};
  if (assigned_secret(s, lowered))
    return finding{"leaks a secret", "password or key assignment"};
  return std::nullopt;
}

// A phrase found in lower-cased, whitespace-collapsed text at a token start;
// `prefix` phrases may continue ("backups", "overwrite production"), the
// others must end there ("wipe" but not "wiped"; "--force" but not
// "--force-with-lease").
struct phrase {
  std::string_view text;
  bool prefix;
};

bool phrase_end(std::string_view s, std::size_t at) {
  return at >= s.size() || !(is_alnum(s[at]) || s[at] == '_' || s[at] == '-');
}

bool phrase_start(std::string_view s, std::size_t at) {
  return at == 0 || !(is_alnum(s[at - 1]) || s[at - 1] == '_');
}

template <std::size_t N>
std::optional<std::string_view> find_phrase(std::string_view s, const std::array<phrase, N>& list) {
  for (const auto& p : list)
    for (auto at = s.find(p.text); at != std::string_view::npos; at = s.find(p.text, at + 1))
      if (phrase_start(s, at) && (p.prefix || phrase_end(s, at + p.text.size())))
        return p.text;
  return std::nullopt;
}

std::string normalized(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space)
      out += ' ';
    space = false;
    out += to_lower(c);
  }
  return out;
}

// "truncate" alone is mostly about strings ("truncate long lines"), so only
// table truncation counts as destructive.
constexpr std::array<phrase, 27> destructive_phrases{{
    {"rm -rf", false},          {"rm -fr", false},           {"rm -r -f", false},
    {"rm -f -r", false},        {"rm --recursive", false},   {"drop table", false},
    {"drop database", false},   {"drop schema", false},      {"truncate table", false},
    {"truncate the table", false}, {"delete all", false},    {"delete everything", false},
    {"force push", false},      {"force-push", false},       {"push --force", false},
    {"push -f", false},         {"git reset --hard", false}, {"format disk", false},
    {"format the disk", false}, {"format drive", false},     {"format the drive", false},
    {"mkfs", true},             {"wipe", false},             {"overwrite prod", true},
    {"overwrite the prod", true}, {"shutdown", false},       {"shut down", false},
}};

constexpr std::array<phrase, 11> safeguard_phrases{{
    {"backup", true},
    {"back up", true},
    {"backed up", true},
    {"snapshot", true},
    {"dry run", true},
    {"dry-run", true},
    {"confirm", true},
    {"verif", true},
    {"rollback", true},
    {"roll back", true},
    {"staging", true},
}};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Content that must not reach an agent's prompt: the reason, or nothing.
std::optional<std::string> unsafe_content(std::string_view content) {
  auto words = words_of(content);
  if (auto f = override_instructions(words))
    return f->what + " (" + quoted(f->quote) + ")";
  if (auto f = role_hijack(words))
    return f->what + " (" + quoted(f->quote) + ")";
  if (auto f = secret(content))
    return f->what + " (" + f->quote + ")";
  std::string text = normalized(content);
  auto danger = find_phrase(text, destructive_phrases);
  if (danger && !find_phrase(text, safeguard_phrases))
    return "recommends a destructive action (" + quoted(*danger) + ") without a safeguard";
  return std::nullopt;
}

vote safety_of_delete(const operation& op, const critic_context& ctx) {
  auto found = locate(ctx.doc, op.id);
  if (!found)
    return make_vote(neutral, "no safety concern: " + op.id + " is not in the playbook");
  const auto& b = *found->bullet;
  if (b.helpful > high_helpful && b.harmful < high_harmful)
    return make_vote(disagree, "deletes a high-performing bullet (helpful=" +
                                   std::to_string(b.helpful) +
                                   " harmful=" + std::to_string(b.harmful) + ")");
  if (auto why = unsafe_content(b.content))
    return make_vote(agree, "removes unsafe content: " + *why);
  return make_vote(neutral, "no safety concern");
}

} // namespace

round_facts::round_facts(const playbook::document& doc, const curation_config& cfg)
    : bullets(pb::bullets(doc)),
      index([&] {
        std::vector<std::string> texts;
        for (const auto& b : pb::bullets(doc))
          texts.push_back(b.content);
        return similarity_index{texts, cfg.dedup_threshold};
      }()),
      bytes(static_cast<std::int64_t>(pb::print(doc).size())), next_id(pb::next_id_after(doc)) {}

vote completeness_vote(const operation& op, const critic_context& ctx) {
  if (!known_type(op))
    return make_vote(disagree, "unknown operation type " + quoted(op.type));
  if (carries_content(op)) {
    if (blank(op.content))
      return make_vote(disagree, "content is empty");
    if (std::size_t n = word_count(op.content); n < min_words)
      return make_vote(disagree, "content is a fragment (" + plural(n, "word") + ")");
  }
  if (op.type == "DELETE") {
    auto found = locate(ctx.doc, op.id);
    if (!found)
      return make_vote(neutral, op.id + " is not in the playbook");
    std::size_t n = bullets_in(*found->section);
    if (n == 1)
      return make_vote(disagree, "deletes the only bullet of " + section_label(*found->section));
    return make_vote(neutral, section_label(*found->section) + " keeps " +
                                  plural(n - 1, "other bullet"));
  }
  if (op.type == "ADD" && op.failures > 0)
    return make_vote(agree, "backed by " + plural(static_cast<std::size_t>(op.failures),
                                                  "failed or partial outcome"));
  if (op.type == "ADD")
    return make_vote(neutral, "no failure behind it");
  return make_vote(neutral, "keeps what the playbook covers");
}

vote efficiency_vote(const operation& op, const critic_context& ctx) {
  std::vector<issue> issues;
  for (auto check : {near_duplicate, over_long, past_budget})
    if (auto i = check(op, ctx))
      issues.push_back(std::move(*i));
  if (!issues.empty()) {
    std::string reason;
    bool actionable = false;
    for (const auto& i : issues) {
      reason += (reason.empty() ? "" : "; ") + i.reason;
      actionable = actionable || i.actionable;
    }
    return make_vote(disagree, reason, false, actionable);
  }
  if (op.type == "MERGE")
    return make_vote(agree, "merges " + plural(op.ids.size(), "near-duplicate bullet"));
  if (op.type == "DELETE") {
    auto found = locate(ctx.doc, op.id);
    if (found && found->bullet->helpful == 0)
      return make_vote(agree, "removes a bullet that was never helpful");
    if (found)
      return make_vote(neutral, "the bullet was helpful " + std::to_string(found->bullet->helpful) +
                                    " times");
    return make_vote(neutral, op.id + " is not in the playbook");
  }
  return make_vote(neutral, "no duplicate, within the limits");
}

vote safety_vote(const operation& op, const critic_context& ctx) {
  if (op.type == "DELETE")
    return safety_of_delete(op, ctx);
  if (!carries_content(op))
    return make_vote(neutral, "no safety concern");
  if (auto why = unsafe_content(op.content))
    return make_vote(disagree, *why, true);
  std::string text = normalized(op.content);
  if (auto danger = find_phrase(text, destructive_phrases))
    return make_vote(agree, "destructive action (" + quoted(*danger) + ") comes with a safeguard (" +
                                quoted(*find_phrase(text, safeguard_phrases)) + ")");
  return make_vote(neutral, "no safety concern");
}

decision decide(const vote& completeness, const vote& efficiency, const vote& safety,
                const voter_config& cfg) {
  decision d;
  d.score = cfg.completeness * completeness.score + cfg.efficiency * efficiency.score +
            cfg.safety * safety.score;
  d.vetoed = cfg.safety_veto && safety.critical && safety.score <= disagree;
  d.accepted = !d.vetoed && d.score >= cfg.threshold - acceptance_slack;
  return d;
}

} // namespace troupe::evolution
