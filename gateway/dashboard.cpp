#include "gateway/dashboard.hpp"

#include "messages/api_error.hpp"

namespace troupe::gateway {
namespace {

// Scripts and styles only from this origin, no inline script or style, no
// plugins, no framing; the event stream and the API are same-origin fetches.
constexpr const char* content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

void secure(api_response& r) {
  r.headers["Content-Security-Policy"] = content_security_policy;
  r.headers["X-Frame-Options"] = "DENY";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["Cross-Origin-Opener-Policy"] = "same-origin";
}

} // namespace

api_response dashboard_response(std::string_view name, std::string_view if_none_match,
                                const std::string& request_id) {
  if (name.empty())
    name = "index.html";
  for (const auto& asset : dashboard_assets()) {
    if (asset.name != name)
      continue;
    api_response r;
    // Revalidated on every load (a cheap 304): a new binary's files are
    // never mixed with an old one's from the browser's cache.
    r.headers["Cache-Control"] = "no-cache";
    r.headers["ETag"] = std::string{asset.etag};
    secure(r);
    if (if_none_match == asset.etag) {
      r.status = 304;
      return r;
    }
    r.headers["Content-Type"] = std::string{asset.content_type};
    r.body = std::string{asset.body};
    return r;
  }
  auto r = error_response(404, "not_found", "the dashboard has no file named " + std::string{name},
                          request_id);
  secure(r);
  return r;
}

} // namespace troupe::gateway
