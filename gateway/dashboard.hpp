// The web dashboard's files, compiled into the binary (docs/dashboard.md):
// `/` is its page, `/ui/NAME` its scripts and styles. Every answer carries
// the headers that keep a browser from running anything but these files.
#pragma once

#include "messages/api_types.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace troupe::gateway {

struct dashboard_asset {
  std::string_view name;         // "index.html", "app.js"
  std::string_view content_type; // "text/javascript; charset=utf-8"
  std::string_view etag;         // quoted content hash
  std::string_view body;
};

// Generated from dashboard/* at build time (gateway/embed_dashboard.cmake).
const std::vector<dashboard_asset>& dashboard_assets();

// The answer to GET `/` (name empty) or `/ui/NAME`: the file with its
// security headers, 304 when `if_none_match` names its ETag, else 404.
api_response dashboard_response(std::string_view name, std::string_view if_none_match,
                                 const std::string& request_id);

} // namespace troupe::gateway
