# Runs one check of the web UI for ctest (cmake -P):
#   -DTOOL=unit|types|lint -DNODE=<node> -DWEB_DIR=<gateway/web>
#   -DTEST_DIR=<tests/web> -DSOURCE_DIR=<repository root>
# The tools are gateway/web's pinned dev dependencies, run with the node
# that CMake found, from the repository root.
cmake_minimum_required(VERSION 3.16)

set(fix "run deploy/install-deps.sh (it installs nodejs and npm, then runs npm ci in gateway/web)")
if(NOT NODE OR NOT EXISTS "${NODE}")
  message(FATAL_ERROR "web.${TOOL}: node was not found when the build was configured; ${fix}, then configure again")
endif()
set(modules "${WEB_DIR}/node_modules")
set(tsc "${modules}/typescript/bin/tsc")
set(eslint "${modules}/eslint/bin/eslint.js")
if(NOT EXISTS "${tsc}" OR NOT EXISTS "${eslint}")
  message(FATAL_ERROR "web.${TOOL}: ${modules} is missing or incomplete; ${fix}")
endif()

# Runs the command given, from the repository root; fails the test with
# the command line when it fails.
function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${SOURCE_DIR}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    list(JOIN ARGN " " shown)
    message(FATAL_ERROR "web.${TOOL} failed (${rc}): ${shown}")
  endif()
endfunction()

if(TOOL STREQUAL "unit")
  file(GLOB tests "${TEST_DIR}/*.test.js")
  if(NOT tests)
    message(FATAL_ERROR "web.unit: no test files in ${TEST_DIR}")
  endif()
  run("${NODE}" --test ${tests})
elseif(TOOL STREQUAL "types")
  run("${NODE}" "${tsc}" -p "${WEB_DIR}/tsconfig.json" --noEmit --strict --checkJs)
  run("${NODE}" "${tsc}" -p "${WEB_DIR}/tsconfig.tests.json" --noEmit --strict --checkJs)
elseif(TOOL STREQUAL "lint")
  run("${NODE}" "${eslint}" --config "${WEB_DIR}/eslint.config.js" --max-warnings 0 gateway/web tests/web)
else()
  message(FATAL_ERROR "run-tool.cmake: unknown TOOL '${TOOL}' (unit, types or lint)")
endif()
