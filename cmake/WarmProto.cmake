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
