// The SFTP subsystem end to end over an in-memory pipe: message types, handles, errors.
#include <gtest/gtest.h>

#include "sftp/engine.hpp"
#include "sftp_harness.hpp"

namespace filegate::sftp::test {
namespace {

constexpr auto status_type = static_cast<std::uint8_t>(Message::status);
constexpr auto handle_type = static_cast<std::uint8_t>(Message::handle);
constexpr auto data_type = static_cast<std::uint8_t>(Message::data);
constexpr auto name_type = static_cast<std::uint8_t>(Message::name);
constexpr auto attrs_type = static_cast<std::uint8_t>(Message::attrs);

Bytes open_frame(std::uint32_t id, std::string_view path, std::uint32_t flags) {
  return Msg(Message::open, id).str(path).u32(flags).attrs_none().frame();
}

std::string open_handle(SftpHarness& h, std::string_view path, std::uint32_t flags) {
  auto reply = h.call(open_frame(1, path, flags));
  EXPECT_EQ(reply.type, handle_type) << path << ": " << reply.message();
  return reply.handle();
}

Bytes handle_frame(Message type, std::uint32_t id, std::string_view handle) {
  return Msg(type, id).bytes(to_bytes(handle)).frame();
}

TEST(SftpSubsystem, VersionAdvertisesTheExtensionTable) {
  SftpHarness h;
  auto reply = h.init();
  ASSERT_EQ(reply.type, static_cast<std::uint8_t>(Message::version));
  Reader r(reply.body);
  EXPECT_EQ(r.u32(), 3u);
  std::vector<std::pair<std::string, std::string>> advertised;
  while (r.remaining() > 0) {
    auto name = r.string();
    auto data = r.string();
    ASSERT_TRUE(name && data);
    advertised.emplace_back(*name, *data);
  }
  const auto table = Engine::extensions();
  ASSERT_EQ(advertised.size(), table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(advertised[i].first, table[i].first);
    EXPECT_EQ(advertised[i].second, table[i].second);
  }
}

TEST(SftpSubsystem, WriteThenReadBack) {
  SftpHarness h;
  h.init();
  const auto handle = open_handle(h, "/f.txt", open_flag::write | open_flag::create | open_flag::truncate);
  auto w = h.call(Msg(Message::write, 2).bytes(to_bytes(handle)).u64(0).bytes(to_bytes("hello world")).frame());
  EXPECT_EQ(w.type, status_type);
  EXPECT_EQ(w.id, 2u);
  EXPECT_EQ(w.status(), Status::ok);
  EXPECT_EQ(h.call(handle_frame(Message::close, 3, handle)).status(), Status::ok);
  EXPECT_EQ(h.read_file("f.txt"), "hello world");

  const auto rh = open_handle(h, "f.txt", open_flag::read);
  auto data = h.call(Msg(Message::read, 4).bytes(to_bytes(rh)).u64(6).u32(100).frame());
  ASSERT_EQ(data.type, data_type);
  EXPECT_EQ(data.id, 4u);
  EXPECT_EQ(to_text(data.reader().bytes().value()), "world");
  auto eof = h.call(Msg(Message::read, 5).bytes(to_bytes(rh)).u64(11).u32(100).frame());
  EXPECT_EQ(eof.type, status_type);
  EXPECT_EQ(eof.status(), Status::eof);
  EXPECT_EQ(h.call(handle_frame(Message::close, 6, rh)).status(), Status::ok);
}

}  // namespace
}  // namespace filegate::sftp::test
