// The unsafe-content detector and the phrase matching of the safety rules
// (unsafe_content.hpp).
#include "actors/evolution/unsafe_content.hpp"

#include "text/ascii.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::evolution {

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string{s} + "\""; }

bool phrase_end(std::string_view s, std::size_t at) {
  return at >= s.size() || !(text::is_alnum(s[at]) || s[at] == '_' || s[at] == '-');
}

bool phrase_start(std::string_view s, std::size_t at) {
  return at == 0 || !(text::is_alnum(s[at - 1]) || s[at - 1] == '_');
}

} // namespace

std::string normalized(std::string_view s) { return text::lower(text::collapse_whitespace(s)); }

std::optional<phrase_match> first_phrase(std::string_view s, std::span<const phrase> list) {
  std::optional<phrase_match> best;
  for (const auto& p : list)
    for (auto at = s.find(p.text); at != std::string_view::npos; at = s.find(p.text, at + 1))
      if (phrase_start(s, at) && (p.stem || phrase_end(s, at + p.text.size()))) {
        if (!best || at < best->at)
          best = phrase_match{at, p.text};
        break; // later matches of this phrase are further on
      }
  return best;
}

namespace {

using text::is_alnum;
using text::is_space;
using text::lower;
using text::to_lower;

bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || text::is_digit(c); }

// Lower-case words (ASCII letters and digits); everything else separates.
std::vector<std::string> words_of(std::string_view s) {
  return text::words(s, text::word_bytes::ascii);
}

template <std::size_t N>
bool one_of(std::string_view w, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), w) != set.end();
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

} // namespace

std::optional<std::string_view> destructive_action(std::string_view normalized_text) {
  auto m = first_phrase(normalized_text, destructive_phrases);
  return m ? std::optional<std::string_view>{m->text} : std::nullopt;
}

std::optional<std::string_view> safeguard_of(std::string_view normalized_text) {
  auto m = first_phrase(normalized_text, safeguard_phrases);
  return m ? std::optional<std::string_view>{m->text} : std::nullopt;
}

std::optional<std::string> unsafe_content(std::string_view content) {
  auto words = words_of(content);
  if (auto f = override_instructions(words))
    return f->what + " (" + quoted(f->quote) + ")";
  if (auto f = role_hijack(words))
    return f->what + " (" + quoted(f->quote) + ")";
  if (auto f = secret(content))
    return f->what + " (" + f->quote + ")";
  std::string text = normalized(content);
  auto danger = destructive_action(text);
  if (danger && !safeguard_of(text))
    return "recommends a destructive action (" + quoted(*danger) + ") without a safeguard";
  return std::nullopt;
}

} // namespace troupe::evolution
