#include "runtime/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace troupe::log {
namespace {

std::atomic<int> current_level{static_cast<int>(level::info)};
std::atomic<bool> text_format{false};
std::mutex output_mutex;
std::string node_id; // guarded by output_mutex

constexpr const char* level_names[] = {"trace", "debug", "info", "warn", "error"};

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = time_point_cast<seconds>(now);
  auto millis = duration_cast<milliseconds>(now - secs).count();
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

std::string json_line(level l, std::string_view message, const nlohmann::json& fields,
                      const std::string& time) {
  nlohmann::json line = {{"time", time},
                         {"level", level_names[static_cast<int>(l)]},
                         {"message", message}};
  if (!node_id.empty())
    line["node"] = node_id;
  if (fields.is_object())
    for (auto& [k, v] : fields.items())
      line[k] = v;
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string text_line(level l, std::string_view message, const nlohmann::json& fields,
                      const std::string& time) {
  std::string out = time + " " + level_names[static_cast<int>(l)] + " " + std::string(message);
  if (fields.is_object())
    for (auto& [k, v] : fields.items())
      out += " " + k + "=" +
             (v.is_string() ? v.get<std::string>()
                            : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return out;
}

} // namespace

bool parse_level(std::string_view text, level& out) {
  for (int i = 0; i < 5; ++i)
    if (text == level_names[i]) {
      out = static_cast<level>(i);
      return true;
    }
  return false;
}

void set_level(level l) { current_level = static_cast<int>(l); }
void set_text_format(bool text) { text_format = text; }

void set_node(std::string id) {
  std::lock_guard guard{output_mutex};
  node_id = std::move(id);
}

bool enabled(level l) { return static_cast<int>(l) >= current_level.load(); }

void write(level l, std::string_view message, const nlohmann::json& fields) {
  if (!enabled(l))
    return;
  auto time = timestamp();
  std::lock_guard guard{output_mutex};
  auto line = text_format ? text_line(l, message, fields, time)
                          : json_line(l, message, fields, time);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace troupe::log
