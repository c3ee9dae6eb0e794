# warm_grpc_proto_library(TARGET proto_file)
#
# Generates C++ message and gRPC service code for one .proto under proto/ with
# Debian's protoc and grpc_cpp_plugin, and wraps it in a static library whose
# include path makes `#include "warm/testing/echo.grpc.pb.h"` work.
find_program(WARM_PROTOC protoc REQUIRED)
find_program(WARM_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(warm_grpc_proto_library target proto)
  set(root ${PROJECT_SOURCE_DIR}/proto)
  set(out ${PROJECT_BINARY_DIR}/gen)
  file(RELATIVE_PATH rel ${root} ${PROJECT_SOURCE_DIR}/${proto})
  string(REGEX REPLACE "\\.proto$" "" stem ${rel})
  set(srcs ${out}/${stem}.pb.cc ${out}/${stem}.grpc.pb.cc)
  set(hdrs ${out}/${stem}.pb.h ${out}/${stem}.grpc.pb.h)
  add_custom_command(
    OUTPUT ${srcs} ${hdrs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${WARM_PROTOC} -I${root} --cpp_out=${out} --grpc_out=${out}
            --plugin=protoc-gen-grpc=${WARM_GRPC_CPP_PLUGIN} ${rel}
    DEPENDS ${PROJECT_SOURCE_DIR}/${proto}
    WORKING_DIRECTORY ${root}
    COMMENT "protoc ${rel}")
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} PUBLIC ${out})
  target_link_libraries(${target} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
endfunction()

# warm_health_proto(SRCS_VAR)
#
# The library's health checks speak grpc.health.v1 with messages generated at
# build time from Debian's grpc-proto (health.proto). The generated code is
# compiled into libwarm under a private package, warm.internal.health.v1:
# messages are the same on the wire, but libwarm then never registers
# "grpc/health/v1/health.proto" in protobuf's descriptor pool or defines
# grpc::health::v1 classes, so an application that generates health.proto
# itself links and starts without conflicts. The RPC path,
# /grpc.health.v1.Health/Check, is set in src/health/health_check.cc.
find_file(WARM_HEALTH_PROTO health.proto
          PATHS /usr/share/grpc-proto/grpc/health/v1 NO_DEFAULT_PATH
          DOC "grpc.health.v1 health.proto (Debian package grpc-proto)")
if(NOT WARM_HEALTH_PROTO)
  message(FATAL_ERROR "health.proto not found: install Debian's grpc-proto "
                      "package or set WARM_HEALTH_PROTO to its path")
endif()

function(warm_health_proto srcs_var)
  set(out ${PROJECT_BINARY_DIR}/gen)
  set(proto ${out}/warm/internal/health.proto)
  add_custom_command(
    OUTPUT ${proto}
    COMMAND ${CMAKE_COMMAND} -DIN=${WARM_HEALTH_PROTO} -DOUT=${proto}
            -P ${PROJECT_SOURCE_DIR}/cmake/RenameHealthPackage.cmake
    DEPENDS ${WARM_HEALTH_PROTO}
            ${PROJECT_SOURCE_DIR}/cmake/RenameHealthPackage.cmake
    COMMENT "health.proto -> package warm.internal.health.v1")
  add_custom_command(
    OUTPUT ${out}/warm/internal/health.pb.cc ${out}/warm/internal/health.pb.h
    COMMAND ${WARM_PROTOC} -I${out} --cpp_out=${out} warm/internal/health.proto
    DEPENDS ${proto}
    WORKING_DIRECTORY ${out}
    COMMENT "protoc warm/internal/health.proto")
  set(${srcs_var} ${out}/warm/internal/health.pb.cc PARENT_SCOPE)
endfunction()

# warm_message_proto(SRCS_VAR proto_file)
#
# Message-only C++ code for one .proto under proto/, for compiling into
# libwarm itself (the diagnostics snapshot). Headers land in gen/, which only
# warm's own sources and tests include; they are not installed.
function(warm_message_proto srcs_var proto)
  set(root ${PROJECT_SOURCE_DIR}/proto)
  set(out ${PROJECT_BINARY_DIR}/gen)
  file(RELATIVE_PATH rel ${root} ${PROJECT_SOURCE_DIR}/${proto})
  string(REGEX REPLACE "\\.proto$" "" stem ${rel})
  add_custom_command(
    OUTPUT ${out}/${stem}.pb.cc ${out}/${stem}.pb.h
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${WARM_PROTOC} -I${root} --cpp_out=${out} ${rel}
    DEPENDS ${PROJECT_SOURCE_DIR}/${proto}
    WORKING_DIRECTORY ${root}
    COMMENT "protoc ${rel}")
  set(${srcs_var} ${out}/${stem}.pb.cc PARENT_SCOPE)
endfunction()
