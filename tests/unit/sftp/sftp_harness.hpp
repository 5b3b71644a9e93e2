// Drives an SFTP subsystem over an in-memory pipe: requests go in through receive() on the
// strand, replies come back through the send callback. The home is a temporary directory
// served by the real local backend behind the permission gate.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authorized_fs.hpp"
#include "core/limits.hpp"
#include "core/log.hpp"
#include "sftp/protocol.hpp"
#include "sftp/subsystem.hpp"
#include "sftp/wire.hpp"
#include "vfs/local_fs.hpp"

namespace filegate::sftp::test {

using Bytes = std::vector<std::byte>;

inline Bytes to_bytes(std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  return Bytes(p, p + text.size());
}

inline std::string to_text(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Builds one request frame.
class Msg {
 public:
  // `id` is left out for INIT (which has a version instead).
  explicit Msg(Message type, std::optional<std::uint32_t> id = std::nullopt) {
    start_ = w().begin_frame(static_cast<std::uint8_t>(type));
    if (id) w().u32(*id);
  }
  Msg& u8(std::uint8_t v) { return w().u8(v), *this; }
  Msg& u32(std::uint32_t v) { return w().u32(v), *this; }
  Msg& u64(std::uint64_t v) { return w().u64(v), *this; }
  Msg& str(std::string_view v) { return w().string(v), *this; }
  Msg& bytes(std::span<const std::byte> v) { return w().bytes(v), *this; }
  Msg& attrs_none() { return u32(0); }
  Bytes frame() {
    w().end_frame(start_);
    auto b = buffer_.bytes();
    return Bytes(b.begin(), b.end());
  }

 private:
  Writer w() { return Writer(buffer_); }
  Buffer buffer_;
  std::size_t start_ = 0;
};

// One reply frame, parsed up to its request id.
struct Reply {
  std::uint8_t type = 0;
  std::uint32_t id = 0;
  Bytes body;  // after the id (after the type for VERSION)
  Reader reader() const { return Reader(body); }
  // For STATUS replies.
  Status status() const {
    Reader r(body);
    return static_cast<Status>(r.u32().value_or(0xffffffff));
  }
  std::string message() const {
    Reader r(body);
    r.u32();
    return std::string(r.string().value_or(""));
  }
  std::string handle() const {
    Reader r(body);
    return to_text(r.bytes().value_or(std::span<const std::byte>()));
  }
};

class SftpHarness {
 public:
  explicit SftpHarness(std::string_view letters = "elradfmwMT", core::Limits limits = {}, std::size_t worker_threads = 2)
      : limits_(limits), workers_(worker_threads) {
    core::log::set_level(core::log::Level::error);
    char pattern[] = "/tmp/filegate-sftp-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) std::abort();
    home_ = pattern;
    auto root = vfs::LocalFilesystem::open_root(home_.string());
    if (!root) std::abort();
    auto set = auth::PermissionSet::parse(letters);
    if (!set) std::abort();
    fs_ = std::make_shared<auth::AuthorizedFilesystem>(std::shared_ptr<vfs::Filesystem>(std::move(*root)),
                                                       auth::PermissionRules(*set));
    Subsystem::Callbacks callbacks;
    callbacks.send = [this](std::span<const std::byte> bytes) {
      received_.insert(received_.end(), bytes.begin(), bytes.end());
      ++sends_;
    };
    callbacks.fail = [this](std::string_view reason) {
      EXPECT_FALSE(failure_) << "fail called twice";
      failure_ = std::string(reason);
    };
    callbacks.resume = [this] { ++resumes_; };
    subsystem_ = make_subsystem(SubsystemContext{strand_, workers_, limits_}, fs_, "alice", 7, std::move(callbacks));
  }

  ~SftpHarness() {
    close();
    workers_.join();
    std::error_code ignored;
    std::filesystem::remove_all(home_, ignored);
  }

  SftpHarness(const SftpHarness&) = delete;
  SftpHarness& operator=(const SftpHarness&) = delete;

  const std::filesystem::path& home() const { return home_; }
  Subsystem& subsystem() { return *subsystem_; }
  asio::thread_pool& workers() { return workers_; }
  const std::optional<std::string>& failure() const { return failure_; }
  int resumes() const { return resumes_; }
  int sends() const { return sends_; }

  // Runs the event loop until `done` holds (or five seconds pass).
  template <class Condition>
  bool run_until(Condition done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_one_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Hands bytes to the subsystem on its strand.
  void feed(std::span<const std::byte> bytes) {
    bool fed = false;
    asio::post(strand_, [&] {
      subsystem_->receive(bytes);
      fed = true;
    });
    run_until([&] { return fed; });
  }
  void feed(const Bytes& bytes) { feed(std::span<const std::byte>(bytes)); }

  // Hands bytes over and reports accepting() as the transport sees it right afterwards (in
  // the same strand handler, before any batch can finish).
  bool feed_and_probe(const Bytes& bytes) {
    bool fed = false, accepting = false;
    asio::post(strand_, [&] {
      subsystem_->receive(bytes);
      accepting = subsystem_->accepting();
      fed = true;
    });
    run_until([&] { return fed; });
    return accepting;
  }

  bool accepting() {
    bool result = false, done = false;
    asio::post(strand_, [&] {
      result = subsystem_->accepting();
      done = true;
    });
    run_until([&] { return done; });
    return result;
  }

  bool has_reply() const {
    if (received_.size() < 4) return false;
    return received_.size() >= 4 + load_u32(received_.data());
  }

  // The next reply frame, waiting for it.
  std::optional<Reply> next_reply() {
    if (!run_until([&] { return has_reply() || failure_; }) || !has_reply()) return std::nullopt;
    const std::uint32_t length = load_u32(received_.data());
    Reader r(std::span<const std::byte>(received_.data() + 4, length));
    Reply reply;
    reply.type = r.u8().value_or(0);
    const bool has_id = reply.type != static_cast<std::uint8_t>(Message::version);
    if (has_id) reply.id = r.u32().value_or(0);
    const std::size_t header = 4 + 1 + (has_id ? 4 : 0);
    reply.body.assign(received_.begin() + static_cast<std::ptrdiff_t>(header),
                      received_.begin() + static_cast<std::ptrdiff_t>(4 + length));
    received_.erase(received_.begin(), received_.begin() + static_cast<std::ptrdiff_t>(4 + length));
    return reply;
  }

  // Sends one frame and returns its reply (which must carry `id`).
  Reply call(Bytes frame) {
    feed(frame);
    auto reply = next_reply();
    EXPECT_TRUE(reply) << "no reply" << (failure_ ? " (failed: " + *failure_ + ")" : "");
    return reply.value_or(Reply{});
  }

  Reply init() { return call(Msg(Message::init).u32(3).frame()); }

  // Waits until the worker pool and the strand are quiet and no bytes are pending.
  void settle() {
    for (int i = 0; i < 20; ++i) io_.run_one_for(std::chrono::milliseconds(2));
  }

  bool close() {
    if (closed_ || !subsystem_) return true;
    bool done = false;
    asio::post(strand_, [&] { subsystem_->close([&] { done = true; }); });
    const bool ok = run_until([&] { return done; });
    closed_ = true;
    subsystem_.reset();
    return ok;
  }

  // Files in the home, from the test's side.
  void write_file(const std::string& name, std::string_view content) {
    std::ofstream(home_ / name, std::ios::binary) << content;
  }
  std::string read_file(const std::string& name) {
    std::ifstream in(home_ / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

 private:
  core::Limits limits_;
  std::filesystem::path home_;
  std::shared_ptr<auth::AuthorizedFilesystem> fs_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  Executor strand_ = asio::make_strand(io_);
  asio::thread_pool workers_;
  std::shared_ptr<Subsystem> subsystem_;
  Bytes received_;
  std::optional<std::string> failure_;
  int resumes_ = 0;
  int sends_ = 0;
  bool closed_ = false;
};

// Request frames the tests send most.
inline constexpr std::uint32_t write_create = open_flag::write | open_flag::create | open_flag::truncate;

inline Bytes open_frame(std::uint32_t id, std::string_view path, std::uint32_t flags) {
  return Msg(Message::open, id).str(path).u32(flags).attrs_none().frame();
}
inline Bytes handle_frame(Message type, std::uint32_t id, std::string_view handle) {
  return Msg(type, id).bytes(to_bytes(handle)).frame();
}
inline Bytes path_frame(Message type, std::uint32_t id, std::string_view path) {
  return Msg(type, id).str(path).frame();
}
inline Bytes read_frame(std::uint32_t id, std::string_view handle, std::uint64_t offset, std::uint32_t length) {
  return Msg(Message::read, id).bytes(to_bytes(handle)).u64(offset).u32(length).frame();
}
inline Bytes write_frame(std::uint32_t id, std::string_view handle, std::uint64_t offset, std::string_view data) {
  return Msg(Message::write, id).bytes(to_bytes(handle)).u64(offset).bytes(to_bytes(data)).frame();
}

// Opens a file or directory and returns its handle.
inline std::string open_handle(SftpHarness& h, std::string_view path, std::uint32_t flags) {
  auto reply = h.call(open_frame(1, path, flags));
  EXPECT_EQ(reply.type, static_cast<std::uint8_t>(Message::handle)) << path << ": " << reply.message();
  return reply.handle();
}
inline std::string open_dir(SftpHarness& h, std::string_view path) {
  auto reply = h.call(path_frame(Message::opendir, 1, path));
  EXPECT_EQ(reply.type, static_cast<std::uint8_t>(Message::handle)) << path << ": " << reply.message();
  return reply.handle();
}

}  // namespace filegate::sftp::test
