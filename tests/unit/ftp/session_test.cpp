// A real ftp::Session driven in-process over a loopback TCP pair: the server side runs on an
// io_context thread, the test talks to it with a plain blocking socket. No filegate binary,
// no fixed ports, a temporary directory as the user's home.
#include "ftp/session.hpp"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "auth/password.hpp"
#include "auth/realm.hpp"
#include "core/limits.hpp"
#include "core/listener.hpp"
#include "core/log.hpp"
#include "core/tcp_stream.hpp"
#include "vfs/local_fs.hpp"

namespace filegate::ftp {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// One reply: its code and every line received (without CRLF).
struct ReplyText {
  int code = 0;
  std::vector<std::string> lines;
  const std::string& last() const { return lines.back(); }
};

class FtpSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::log::set_level(core::log::Level::error);
    char pattern[] = "/tmp/filegate-ftp-session-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    home_ = pattern;

    auto hash = auth::hash_password("pw", "$6$");
    ASSERT_TRUE(hash);
    auth::User user;
    user.name = "alice";
    user.password_hash = *hash;
    user.home = home_.string();
    user.permissions = auth::PermissionRules(auth::PermissionSet::all());
    realm_ = std::make_shared<const auth::Realm>(std::vector<auth::User>{user}, std::nullopt);

    limits_.failed_login_delay = core::Milliseconds(50);
    limits_.max_command_line = 512;
    context_ = std::make_unique<SessionContext>(SessionContext{
        settings_, limits_, [realm = realm_] { return realm; }, workers_,
        [](const auth::User& u) -> Result<std::shared_ptr<vfs::Filesystem>> {
          auto root = vfs::LocalFilesystem::open_root(u.home);
          if (!root) return root.error();
          return std::shared_ptr<vfs::Filesystem>(std::move(*root));
        },
        nullptr});

    // Loopback pair: the acceptor is only used for this one connection.
    tcp::acceptor acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(client_, 0);
    timeval timeout{5, 0};
    ::setsockopt(client_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(acceptor.local_endpoint().port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    tcp::socket server_side(io_);
    acceptor.accept(server_side);

    auto slot = limiter_.admit(server_side.remote_endpoint().address());
    ASSERT_TRUE(slot);
    session_ = std::make_shared<Session>(*context_, listener_,
                                         std::make_unique<core::TcpStream>(std::move(server_side)),
                                         std::move(*slot), 1, asio::make_strand(io_));
    session_->start();
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (client_ >= 0) ::close(client_);
    if (session_) {
      session_->stop();
      session_.reset();
    }
    work_.reset();
    if (io_thread_.joinable()) io_thread_.join();
    workers_.join();
    error_code ignored;
    fs::remove_all(home_, ignored);
  }

  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(client_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // One CRLF-terminated line, or "" with eof_ set when the server closed.
  std::string read_line() {
    while (true) {
      const auto end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      char chunk[1024];
      const ssize_t n = ::recv(client_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        eof_ = true;
        return {};
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // A complete reply: single-line "DDD text", or "DDD-..." up to the closing "DDD text".
  ReplyText read_reply() {
    ReplyText reply;
    std::string line = read_line();
    if (eof_ || line.size() < 4) {
      ADD_FAILURE() << "no reply (eof=" << eof_ << ", line=\"" << line << "\")";
      return reply;
    }
    reply.code = std::stoi(line.substr(0, 3));
    reply.lines.push_back(line);
    if (line[3] == '-') {
      const std::string closing = line.substr(0, 3) + " ";
      do {
        line = read_line();
        if (eof_) {
          ADD_FAILURE() << "eof inside a multi-line reply";
          return reply;
        }
        reply.lines.push_back(line);
      } while (line.compare(0, 4, closing) != 0);
    }
    return reply;
  }

  ReplyText command(std::string_view line) {
    send_raw(std::string(line) + "\r\n");
    return read_reply();
  }

  // True when the server closes the connection (recv returns 0) before the timeout.
  bool closed_by_server() {
    read_line();
    return eof_ && buffer_.empty();
  }

  void login() {
    EXPECT_EQ(command("USER alice").code, 331);
    EXPECT_EQ(command("PASS pw").code, 230);
  }

  // Declared first: sessions hold a slot of it until their last handler is gone.
  core::ConnectionLimiter limiter_{10, 10};
  fs::path home_;
  asio::io_context io_;
  // Keeps io_.run() going until TearDown, so that stop() is always delivered.
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::thread_pool workers_{1};
  Settings settings_;
  ListenerSettings listener_;
  core::Limits limits_;
  std::shared_ptr<const auth::Realm> realm_;
  std::unique_ptr<SessionContext> context_;
  std::shared_ptr<Session> session_;
  std::thread io_thread_;
  int client_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

TEST_F(FtpSessionTest, GreetingLoginAndDirectories) {
  const auto greeting = read_reply();
  EXPECT_EQ(greeting.code, 220);
  EXPECT_EQ(greeting.last(), "220 filegate FTP server ready");

  EXPECT_EQ(command("PWD").code, 530);
  EXPECT_EQ(command("CWD /").code, 530);
  login();

  auto pwd = command("PWD");
  EXPECT_EQ(pwd.code, 257);
  EXPECT_EQ(pwd.last().substr(0, 7), "257 \"/\"");

  auto mkd = command("MKD sub dir");
  EXPECT_EQ(mkd.code, 257);
  EXPECT_EQ(mkd.last().substr(0, 14), "257 \"/sub dir\"");
  EXPECT_TRUE(fs::is_directory(home_ / "sub dir"));
  EXPECT_EQ(command("MKD sub dir").code, 550);  // exists

  EXPECT_EQ(command("CWD sub dir").code, 250);
  EXPECT_EQ(command("PWD").last().substr(0, 14), "257 \"/sub dir\"");
  EXPECT_EQ(command("xmkd inner").code, 257);
  EXPECT_TRUE(fs::is_directory(home_ / "sub dir" / "inner"));
  EXPECT_EQ(command("CDUP").code, 250);
  EXPECT_EQ(command("PWD").last().substr(0, 7), "257 \"/\"");
  // '..' at the root stays at the root.
  EXPECT_EQ(command("CDUP").code, 250);
  EXPECT_EQ(command("PWD").last().substr(0, 7), "257 \"/\"");
  EXPECT_EQ(command("CWD missing").code, 550);
  EXPECT_EQ(command("CWD").code, 501);
  EXPECT_EQ(command("PWD extra").code, 501);

  const auto quit = command("QUIT");
  EXPECT_EQ(quit.code, 221);
  EXPECT_TRUE(closed_by_server());
}

TEST_F(FtpSessionTest, MalformedInputIsAnsweredAndTheSessionGoesOn) {
  EXPECT_EQ(read_reply().code, 220);
  EXPECT_EQ(command("XYZZ").code, 500);
  EXPECT_EQ(command("AB").code, 500);
  EXPECT_EQ(command("1234 x").code, 500);
  EXPECT_EQ(command("").code, 500);

  // Longer than max_command_line: refused as a whole, then the next line works.
  const auto too_long = command("NOOP " + std::string(limits_.max_command_line * 3, 'a'));
  EXPECT_EQ(too_long.code, 500);
  EXPECT_EQ(command("NOOP").code, 200);

  // A NUL byte anywhere in the line.
  send_raw(std::string("NO\0OP\r\n", 7));
  EXPECT_EQ(read_reply().code, 500);
  send_raw(std::string("USER a\0b\r\n", 10));
  EXPECT_EQ(read_reply().code, 500);
  EXPECT_EQ(command("NOOP").code, 200);

  // Bare LF is accepted as a line end; lower-case verbs work.
  send_raw("noop\n");
  EXPECT_EQ(read_reply().code, 200);

  login();
  EXPECT_EQ(command("RNTO somewhere").code, 503);
  // RNTO must directly follow RNFR.
  std::ofstream(home_ / "a.txt") << "x";
  EXPECT_EQ(command("RNFR a.txt").code, 350);
  EXPECT_EQ(command("NOOP").code, 200);
  EXPECT_EQ(command("RNTO b.txt").code, 503);
  EXPECT_EQ(command("RNFR a.txt").code, 350);
  EXPECT_EQ(command("RNTO b.txt").code, 250);
  EXPECT_TRUE(fs::exists(home_ / "b.txt"));
  EXPECT_FALSE(fs::exists(home_ / "a.txt"));

  EXPECT_EQ(command("QUIT").code, 221);
  EXPECT_TRUE(closed_by_server());
}

TEST_F(FtpSessionTest, FeatListsTheExtensionsAndNoAuth) {
  EXPECT_EQ(read_reply().code, 220);
  const auto feat = command("FEAT");
  EXPECT_EQ(feat.code, 211);
  ASSERT_GE(feat.lines.size(), 2u);
  EXPECT_EQ(feat.lines.front(), "211-Features:");
  EXPECT_EQ(feat.last(), "211 End");
  const std::vector<std::string> body(feat.lines.begin() + 1, feat.lines.end() - 1);
  const std::vector<std::string> expected{
      " EPRT", " EPSV", " HOST", " MDTM", " MFMT",
      " MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;",
      " PASV", " REST STREAM", " SIZE", " TVFS", " UTF8"};
  EXPECT_EQ(body, expected);
  for (const auto& line : feat.lines) {
    EXPECT_EQ(line.find("AUTH"), std::string::npos) << line;
    EXPECT_EQ(line.find("PBSZ"), std::string::npos) << line;
    EXPECT_EQ(line.find("PROT"), std::string::npos) << line;
  }
  // Without TLS configured, AUTH is not implemented.
  EXPECT_EQ(command("AUTH TLS").code, 502);
  EXPECT_EQ(command("NOOP").code, 200);
}

TEST_F(FtpSessionTest, Help) {
  EXPECT_EQ(read_reply().code, 220);
  const auto help = command("HELP");
  EXPECT_EQ(help.code, 214);
  EXPECT_GT(help.lines.size(), 2u);
  std::string all;
  for (const auto& line : help.lines) all += line + "\n";
  EXPECT_NE(all.find("RETR"), std::string::npos);
  EXPECT_NE(all.find("MLSD"), std::string::npos);
  EXPECT_EQ(all.find("AUTH"), std::string::npos);
  const auto one = command("HELP mkd");
  EXPECT_EQ(one.code, 214);
  EXPECT_EQ(one.last(), "214 Syntax: MKD <path>");
  EXPECT_EQ(command("HELP XYZZ").code, 502);
}

TEST_F(FtpSessionTest, ThreeBadPasswordsCloseTheConnection) {
  EXPECT_EQ(read_reply().code, 220);
  EXPECT_EQ(command("PASS pw").code, 503);  // no USER yet
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(command("USER alice").code, 331);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(command("PASS wrong").code, 530);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 50ms);
  }
  EXPECT_TRUE(closed_by_server());
}

TEST_F(FtpSessionTest, UnknownUserFailsLikeABadPassword) {
  EXPECT_EQ(read_reply().code, 220);
  EXPECT_EQ(command("USER nobody").code, 331);
  const auto r = command("PASS pw");
  EXPECT_EQ(r.code, 530);
  EXPECT_EQ(r.last(), "530 Login incorrect.");
  login();  // one failure does not end the session
  EXPECT_EQ(command("USER alice").code, 530);  // cannot switch users
  EXPECT_EQ(command("QUIT").code, 221);
  EXPECT_TRUE(closed_by_server());
}

TEST_F(FtpSessionTest, ClientHangUpEndsTheSession) {
  EXPECT_EQ(read_reply().code, 220);
  login();
  ::shutdown(client_, SHUT_WR);
  EXPECT_TRUE(closed_by_server());
}

}  // namespace
}  // namespace filegate::ftp
