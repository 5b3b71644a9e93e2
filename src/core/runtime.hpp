// The process runtime: the network event loop (one io_context, run by a few threads; every
// connection is confined to its own strand) and the worker pool for blocking work (disk,
// password hashing). Graceful shutdown on SIGINT/SIGTERM.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/asio.hpp"
#include "core/result.hpp"

namespace filegate::core {

class Runtime {
 public:
  Runtime(unsigned network_threads, unsigned worker_threads);
  ~Runtime();

  asio::io_context& io() { return io_; }
  asio::thread_pool& workers() { return workers_; }

  // Registers what to do when a shutdown signal arrives (stop listeners, end sessions).
  void on_shutdown(std::function<void()> action);
  // Adds a signal that triggers `action` (SIGHUP reload, for example). Every action registered
  // for the signal runs on a worker thread; signal actions run one at a time, in the order the
  // signals came, so two quick SIGHUPs cannot let an older read of a file win over a newer one.
  void on_signal(int signal_number, std::function<void()> action);

  // Runs the event loop until shutdown completes. Returns after every thread, network and
  // worker, has stopped.
  void run();

 private:
  void wait_signals();

  unsigned network_threads_;
  asio::io_context io_;
  asio::thread_pool workers_;
  asio::strand<asio::thread_pool::executor_type> signal_strand_{asio::make_strand(workers_)};
  asio::signal_set signals_;
  std::vector<std::function<void()>> shutdown_actions_;
  std::vector<std::pair<int, std::function<void()>>> signal_actions_;
  bool shutting_down_ = false;
};

}  // namespace filegate::core
