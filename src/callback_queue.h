// CallbackQueue: the completion queue for a warm channel's callback-API calls.
//
// Callback calls (stub->async()->Method(...)) ask the channel for a callback
// completion queue and create the call on it. A warm channel creates its calls
// on member channels, and a member can outlive the warm channel while its
// calls finish, so the queue must outlive every call: it is shared by the
// warm channel and by every member (through the member's interceptor factory,
// which the member's grpc::Channel owns, which each call's ClientContext
// holds). When the last owner lets go, the queue is shut down; gRPC runs the
// shutdown callback once the queue's pending operations are done, and that
// frees it.
//
// Thread safety: cq() may be called from any thread.

#ifndef WARM_SRC_CALLBACK_QUEUE_H_
#define WARM_SRC_CALLBACK_QUEUE_H_

#include <grpcpp/completion_queue.h>

#include <memory>

namespace warm {
namespace internal {

class CallbackQueue {
 public:
  static std::shared_ptr<CallbackQueue> Create();
  ~CallbackQueue();
  CallbackQueue(const CallbackQueue&) = delete;
  CallbackQueue& operator=(const CallbackQueue&) = delete;

  grpc::CompletionQueue* cq() const { return cq_; }

 private:
  explicit CallbackQueue(grpc::CompletionQueue* cq) : cq_(cq) {}
  grpc::CompletionQueue* const cq_;  // freed by its shutdown callback
};

}  // namespace internal
}  // namespace warm

#endif  // WARM_SRC_CALLBACK_QUEUE_H_
