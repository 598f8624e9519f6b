// A helper of the playbook format's unit tests.
#pragma once

#include "actors/playbooks/playbook_format.hpp"

#include <string>

// A structural dump of a document, so that tests can compare parse results
// (the header defines no operator== on purpose: documents are values).
inline std::string dump(const troupe::playbook::document& doc) {
  std::string out;
  for (const auto& sec : doc.sections) {
    out += "S<" + sec.name + ">\n";
    for (const auto& l : sec.lines) {
      if (l.is_bullet)
        out += "  B<" + l.b.id + "|" + std::to_string(l.b.helpful) + "|" +
               std::to_string(l.b.harmful) + "|" + l.b.content + ">\n";
      else
        out += "  T<" + l.text + ">\n";
    }
  }
  return out;
}

