# Writes a generated C++ source defining `const std::vector<TYPE>& FUNCTION()`
# in NAMESPACE, whose list holds ROWS (C++ initialisers, one per line), to
# OUT, only when its text changed (so an unchanged table is not recompiled).
# Shared by embed_migrations.cmake and gateway/embed_dashboard.cmake.
function(write_embedded_table out header namespace type function rows origin)
  set(content "// Generated from ${origin}; do not edit.
#include \"${header}\"

namespace ${namespace} {

const std::vector<${type}>& ${function}() {
  static const std::vector<${type}> list{
${rows}  };
  return list;
}

} // namespace ${namespace}
")
  if(EXISTS "${out}")
    file(READ "${out}" old)
  endif()
  if(NOT "${old}" STREQUAL "${content}")
    file(WRITE "${out}" "${content}")
  endif()
endfunction()
