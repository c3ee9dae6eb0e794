# cmake -DIN=health.proto -DOUT=renamed.proto -P RenameHealthPackage.cmake
# Moves Debian's grpc.health.v1 messages into warm's private package (see
# warm_health_proto() in WarmProto.cmake). Fails if the package line moved.
file(READ ${IN} text)
string(FIND "${text}" "package grpc.health.v1;" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${IN}: no 'package grpc.health.v1;' line")
endif()
string(REPLACE "package grpc.health.v1;" "package warm.internal.health.v1;"
       text "${text}")
file(WRITE ${OUT} "${text}")
