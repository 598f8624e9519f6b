// Structured logging: one JSON object per line on stderr (or a text line for
// humans with log.format = "text"). Thread-safe; a line is written whole.
//
//   log::info("listening", {{"address", addr}});
//   {"time":"…","level":"info","node":"…","message":"listening","address":"…"}
//
// request_id and job_id are ordinary fields; callers pass them when they have
// them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace troupe::log {

enum class level { trace, debug, info, warn, error };

// Parses "trace|debug|info|warn|error"; returns false for anything else.
bool parse_level(std::string_view text, level& out);

void set_level(level l);
void set_text_format(bool text);
void set_node(std::string node_id);
bool enabled(level l);

void write(level l, std::string_view message, const nlohmann::json& fields = {});

inline void trace(std::string_view m, const nlohmann::json& f = {}) { write(level::trace, m, f); }
inline void debug(std::string_view m, const nlohmann::json& f = {}) { write(level::debug, m, f); }
inline void info(std::string_view m, const nlohmann::json& f = {}) { write(level::info, m, f); }
inline void warn(std::string_view m, const nlohmann::json& f = {}) { write(level::warn, m, f); }
inline void error(std::string_view m, const nlohmann::json& f = {}) { write(level::error, m, f); }

} // namespace troupe::log
