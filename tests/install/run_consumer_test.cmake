# Installs warm from BINARY_DIR into a scratch prefix, then configures and
# builds tests/install/consumer against it twice: with find_package(warm
# CONFIG) and with pkg-config (warm.pc).
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
foreach(mode cmake pkgconfig)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer
      -B ${WORK_DIR}/build-${mode} -DCMAKE_PREFIX_PATH=${prefix}
      -DWARM_CONSUMER_MODE=${mode})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build-${mode})
  run(${WORK_DIR}/build-${mode}/consumer)
  message(STATUS "consumer built and ran with ${mode}")
endforeach()
