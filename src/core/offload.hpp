// Runs blocking work (disk, password hashing) on the worker pool and resumes the calling
// coroutine on its own executor (the session strand). The event loop never blocks on disk.
//
// Callers pass lambdas that capture by reference ([&]): the calling coroutine is suspended
// until the work is done, so its locals outlive the work. This also keeps non-trivial
// temporaries out of co_await expressions, which g++ 12 mishandles (a by-value lambda with
// std::string init-captures was freed twice under ASan).
#pragma once

#include <type_traits>
#include <utility>

#include "core/asio.hpp"

namespace filegate::core {

template <class Function>
auto offload(asio::thread_pool& pool, Function function) {
  using Value = std::invoke_result_t<Function&>;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Value)>(
      [&pool](auto handler, Function work) {
        auto home = asio::prefer(asio::get_associated_executor(handler),
                                 asio::execution::outstanding_work.tracked);
        asio::post(pool, [handler = std::move(handler), work = std::move(work),
                          home = std::move(home)]() mutable {
          auto value = work();
          asio::post(home, [handler = std::move(handler), value = std::move(value)]() mutable {
            std::move(handler)(std::move(value));
          });
        });
      },
      asio::use_awaitable, std::move(function));
}

}  // namespace filegate::core
