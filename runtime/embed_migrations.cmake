# Generates a C++ source holding every runtime/migrations/NNNN_name.sql file.
# Invoked at build time: cmake -DSRC_DIR=... -DOUT=... -P embed_migrations.cmake
file(GLOB files "${SRC_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(base "${f}" NAME_WE)
  string(SUBSTRING "${base}" 0 4 num)
  math(EXPR version "${num}")
  string(SUBSTRING "${base}" 5 -1 name)
  file(READ "${f}" sql)
  string(APPEND body "      {${version}, \"${name}\", R\"troupe_sql(${sql})troupe_sql\"},\n")
endforeach()
set(content "// Generated from runtime/migrations/*.sql; do not edit.
#include \"runtime/migrations.hpp\"

namespace troupe::runtime {

const std::vector<migration>& all_migrations() {
  static const std::vector<migration> list{
${body}  };
  return list;
}

} // namespace troupe::runtime
")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE "${OUT}" "${content}")
endif()
