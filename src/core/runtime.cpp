#include "core/runtime.hpp"

#include <csignal>
#include <thread>

#include "core/log.hpp"

namespace filegate::core {

Runtime::Runtime(unsigned network_threads, unsigned worker_threads)
    : network_threads_(network_threads == 0 ? 1 : network_threads),
      io_(static_cast<int>(network_threads_)),
      workers_(worker_threads == 0 ? 4 : worker_threads),
      signals_(io_, SIGINT, SIGTERM) {}

Runtime::~Runtime() {
  workers_.stop();
  workers_.join();
}

void Runtime::on_shutdown(std::function<void()> action) {
  shutdown_actions_.push_back(std::move(action));
}

void Runtime::on_signal(int signal_number, std::function<void()> action) {
  error_code ignored;
  signals_.add(signal_number, ignored);
  signal_actions_.emplace_back(signal_number, std::move(action));
}

void Runtime::wait_signals() {
  signals_.async_wait([this](const error_code& ec, int number) {
    if (ec) return;
    bool handled = false;
    for (auto& [n, action] : signal_actions_) {
      if (n != number) continue;
      // On a worker: a reload reads files, and the event loop never waits on disk.
      asio::post(signal_strand_, action);
      handled = true;
    }
    if (handled) {
      wait_signals();
      return;
    }
    if (shutting_down_) {
      log::warn("shutdown_forced");
      io_.stop();
      return;
    }
    shutting_down_ = true;
    log::info("shutdown").num("signal", number);
    for (auto& action : shutdown_actions_) action();
    wait_signals();  // a second signal forces the stop
  });
}

void Runtime::run() {
  wait_signals();
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < network_threads_; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : threads) t.join();
  // Work still on the pool (a signal action, a session's last disk job) finishes here, before
  // the caller tears down the servers that work may use.
  workers_.stop();
  workers_.join();
}

}  // namespace filegate::core
