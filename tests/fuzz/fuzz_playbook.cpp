// libFuzzer target: the ACE playbook parser and printer. Every byte string
// is a document, and printing is a fixed point after one round:
// print(parse(print(parse(x)))) == print(parse(x)).
#include "actors/playbooks/playbook_format.hpp"

#include <cstdlib>

using namespace troupe::playbook;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto doc = parse(text);
  auto once = print(doc);
  auto again = parse(once);
  if (print(again) != once)
    std::abort();
  // The document's own figures agree with its canonical text.
  if (bullet_count(again) != bullet_count(doc) || token_estimate(again) != token_estimate(doc))
    std::abort();
  auto d = diff(doc, again);
  if (!d.added.empty() || !d.removed.empty() || !d.changed.empty())
    std::abort();
  return 0;
}
