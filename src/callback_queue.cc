#include "src/callback_queue.h"

#include <grpc/grpc.h>

namespace warm {
namespace internal {
namespace {

// Runs when the queue's shutdown is complete; frees the queue and itself.
// gRPC's own per-channel callback queue is freed the same way.
struct ShutdownCallback : grpc_completion_queue_functor {
  ShutdownCallback() {
    functor_run = &ShutdownCallback::Run;
    inlineable = false;
  }
  static void Run(grpc_completion_queue_functor* functor, int /*ok*/) {
    auto* self = static_cast<ShutdownCallback*>(functor);
    delete self->cq;
    delete self;
  }
  grpc::CompletionQueue* cq = nullptr;
};

}  // namespace

std::shared_ptr<CallbackQueue> CallbackQueue::Create() {
  auto* shutdown = new ShutdownCallback();
  shutdown->cq = new grpc::CompletionQueue(
      grpc_completion_queue_create_for_callback(shutdown, nullptr));
  return std::shared_ptr<CallbackQueue>(new CallbackQueue(shutdown->cq));
}

CallbackQueue::~CallbackQueue() { cq_->Shutdown(); }

}  // namespace internal
}  // namespace warm
