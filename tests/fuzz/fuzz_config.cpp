// libFuzzer target: the configuration loader. Input: TOML text, optionally
// followed by a line "%%env" and NAME=VALUE lines for the environment. Any
// input loads or is refused with a message; never an exception. What loads
// renders as TOML that loads to the same settings.
#include "config/settings.hpp"

#include <cstdlib>

using namespace troupe::config;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input{reinterpret_cast<const char*>(data), size};
  std::map<std::string, std::string> env;
  auto split = input.find("\n%%env\n");
  std::string toml = input.substr(0, split);
  if (split != std::string::npos) {
    std::size_t at = split + 7;
    while (at < input.size()) {
      auto end = input.find('\n', at);
      auto line = input.substr(at, end == std::string::npos ? std::string::npos : end - at);
      auto eq = line.find('=');
      if (eq != std::string::npos)
        env[line.substr(0, eq)] = line.substr(eq + 1);
      at = end == std::string::npos ? input.size() : end + 1;
    }
  }
  auto loaded = load_text(toml, "fuzz.toml", env, {});
  if (loaded.value.has_value() == loaded.error.has_value())
    std::abort();
  if (!loaded.value)
    return 0;
  auto rendered = effective_toml(*loaded.value);
  // Secrets are masked in the rendering: compare with them put back.
  auto expected = *loaded.value;
  auto reloaded = load_text(rendered, "effective.toml", {}, {});
  if (!reloaded.value) {
    if (rendered.find("\"***\"") == std::string::npos)
      std::abort(); // only a masked secret may fail to load back
    return 0;
  }
  reloaded.value->auth.jwt_secret = expected.auth.jwt_secret;
  reloaded.value->database.url = expected.database.url;
  if (effective_toml(*reloaded.value) != rendered)
    std::abort();
  return 0;
}
