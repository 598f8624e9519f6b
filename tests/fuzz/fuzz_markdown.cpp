// libFuzzer target: markdown import. Converted markdown is ACE text that
// round-trips, with unique bullet ids at or after the counter it started
// from, and the counter moved past every id it handed out.
#include "actors/playbooks/playbook_format.hpp"

#include <cstdlib>

using namespace troupe::playbook;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  std::int64_t next_id = 1;
  auto doc = from_markdown(text, next_id);
  if (!duplicate_ids(doc).empty())
    std::abort();
  if (next_id < next_id_after(doc))
    std::abort();
  auto printed = print(doc);
  if (print(parse(printed)) != printed)
    std::abort();
  std::int64_t other = 1;
  auto any = parse_any(text, other); // ACE or markdown, whichever it is
  if (print(parse(print(any))) != print(any))
    std::abort();
  return 0;
}
