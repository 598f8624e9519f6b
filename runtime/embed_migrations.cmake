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
include("${CMAKE_CURRENT_LIST_DIR}/embed_table.cmake")
write_embedded_table("${OUT}" "runtime/migrations.hpp" troupe::runtime migration all_migrations
                     "${body}" "runtime/migrations/*.sql")
