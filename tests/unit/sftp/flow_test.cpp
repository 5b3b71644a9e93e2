// The subsystem's flow: pipelined requests in batches, back-pressure, close, transfer lines.
#include <gtest/gtest.h>

#include <set>

#include "sftp_harness.hpp"

namespace filegate::sftp::test {
namespace {

constexpr auto status_type = static_cast<std::uint8_t>(Message::status);
constexpr auto data_type = static_cast<std::uint8_t>(Message::data);

void append(Bytes& stream, const Bytes& frame) { stream.insert(stream.end(), frame.begin(), frame.end()); }

TEST(SftpFlow, PipelinedRequestsAreAnsweredOnceEachInOrderWithOneSend) {
  SftpHarness h;
  h.init();
  std::string content;
  for (int i = 0; i < 64 * 4096; ++i) content += static_cast<char>('a' + i % 23);
  h.write_file("big", content);
  const auto in = open_handle(h, "/big", open_flag::read);
  const auto out = open_handle(h, "/copy", write_create);
  const int sends_before = h.sends();

  // 64 READs as OpenSSH's client keeps in flight, with a WRITE and a STAT among them.
  Bytes stream;
  for (std::uint32_t i = 0; i < 64; ++i) {
    append(stream, read_frame(100 + i, in, std::uint64_t{i} * 4096, 4096));
    if (i == 10) append(stream, write_frame(500, out, 0, "written"));
    if (i == 20) append(stream, Msg(Message::stat, 501).str("/copy").frame());
  }
  h.feed(stream);
  std::vector<std::uint32_t> order;
  std::string reassembled;
  for (int n = 0; n < 66; ++n) {
    auto reply = h.next_reply();
    ASSERT_TRUE(reply) << n;
    order.push_back(reply->id);
    if (reply->type == data_type) reassembled += to_text(reply->reader().bytes().value());
  }
  h.settle();
  EXPECT_FALSE(h.has_reply());  // exactly one reply each
  std::vector<std::uint32_t> expected;
  for (std::uint32_t i = 0; i < 64; ++i) {
    expected.push_back(100 + i);
    if (i == 10) expected.push_back(500);
    if (i == 20) expected.push_back(501);
  }
  EXPECT_EQ(order, expected);
  EXPECT_EQ(reassembled, content);
  // One batch, one hand-over to the transport.
  EXPECT_EQ(h.sends() - sends_before, 1);
  // The WRITE was done before the STAT behind it.
  EXPECT_EQ(h.read_file("copy"), "written");
}

TEST(SftpFlow, ABatchStopsAtTheReplyCapAndTheRestFollow) {
  core::Limits limits;
  limits.sftp_max_batch_reply = 10000;
  SftpHarness h("elradfmwMT", limits);
  h.init();
  h.write_file("f", std::string(40000, 'z'));
  const auto in = open_handle(h, "/f", open_flag::read);
  const int sends_before = h.sends();
  Bytes stream;
  for (std::uint32_t i = 0; i < 10; ++i) append(stream, read_frame(i, in, std::uint64_t{i} * 4000, 4000));
  h.feed(stream);
  for (std::uint32_t i = 0; i < 10; ++i) {
    auto reply = h.next_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->id, i);
    EXPECT_EQ(reply->type, data_type);
  }
  EXPECT_GE(h.sends() - sends_before, 3);
}

TEST(SftpFlow, BackPressureStopsAndResumesReading) {
  core::Limits limits;
  limits.sftp_max_packet = 4096;
  limits.sftp_max_queued_bytes = 0;  // raised to two maximal frames: 8200 bytes
  SftpHarness h("elradfmwMT", limits);
  h.init();
  const auto out = open_handle(h, "/f", write_create);

  // A small request does not stop reading, and owes no resume.
  EXPECT_TRUE(h.feed_and_probe(Msg(Message::stat, 2).str("/f").frame()));
  ASSERT_TRUE(h.next_reply());
  h.settle();
  EXPECT_EQ(h.resumes(), 0);

  // 20 writes of 1000 bytes: over the cap until they are answered.
  Bytes stream;
  std::string expected;
  for (std::uint32_t i = 0; i < 20; ++i) {
    const std::string chunk(1000, static_cast<char>('A' + i));
    append(stream, write_frame(10 + i, out, std::uint64_t{i} * 1000, chunk));
    expected += chunk;
  }
  EXPECT_FALSE(h.feed_and_probe(stream));
  // The transport may still deliver what it had read: it is taken and answered.
  h.feed(Msg(Message::stat, 99).str("/f").frame());
  for (std::uint32_t i = 0; i < 21; ++i) {
    auto reply = h.next_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->id, i < 20 ? 10 + i : 99);
    EXPECT_EQ(reply->type, i < 20 ? status_type : static_cast<std::uint8_t>(Message::attrs));
  }
  ASSERT_TRUE(h.run_until([&] { return h.resumes() == 1; }));
  EXPECT_TRUE(h.accepting());
  EXPECT_EQ(h.read_file("f"), expected);
  EXPECT_FALSE(h.failure());
}

TEST(SftpFlow, APartialMaximalFrameWaitsForItsLastByte) {
  core::Limits limits;
  limits.sftp_max_packet = 4096;
  limits.sftp_max_queued_bytes = 0;
  SftpHarness h("elradfmwMT", limits);
  h.init();
  // A frame one byte short is held (and does not stop reading) until its last byte comes.
  Bytes frame = Msg(Message::extended, 1).str("nonsense").str(std::string(4000, 'x')).frame();
  Bytes part(frame.begin(), frame.end() - 1);
  EXPECT_TRUE(h.feed_and_probe(part));
  EXPECT_TRUE(h.accepting());
  h.feed(Bytes{frame.back()});
  auto reply = h.next_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status(), Status::op_unsupported);
}

TEST(SftpFlow, CloseClosesHandlesAndLogsTheirTransfers) {
  SftpHarness h;
  h.init();
  h.write_file("down", "0123456789");
  const auto up = open_handle(h, "/up", write_create);
  const auto down = open_handle(h, "/down", open_flag::read);
  const auto idle = open_handle(h, "/down", open_flag::read);
  EXPECT_EQ(h.call(write_frame(2, up, 0, "uploaded")).status(), Status::ok);
  EXPECT_EQ(h.call(read_frame(3, down, 0, 100)).type, data_type);

  core::log::set_level(core::log::Level::info);
  ::testing::internal::CaptureStderr();
  // A CLOSE logs the transfer of its handle...
  EXPECT_EQ(h.call(Msg(Message::close, 4).bytes(to_bytes(down)).frame()).status(), Status::ok);
  // ... and the end of the session those of the handles left open (not those that moved nothing).
  ASSERT_TRUE(h.close());
  const std::string log = ::testing::internal::GetCapturedStderr();
  core::log::set_level(core::log::Level::error);

  std::vector<std::string> transfers;
  std::size_t pos = 0;
  while ((pos = log.find("\"event\":\"transfer\"", pos)) != std::string::npos) {
    const auto end = log.find('\n', pos);
    transfers.push_back(log.substr(pos, end - pos));
    pos = end;
  }
  ASSERT_EQ(transfers.size(), 2u) << log;
  EXPECT_NE(transfers[0].find("\"protocol\":\"sftp\""), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"user\":\"alice\""), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"session\":7"), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"direction\":\"download\""), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"path\":\"/down\""), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"bytes\":10"), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[0].find("\"result\":\"ok\""), std::string::npos) << transfers[0];
  EXPECT_NE(transfers[1].find("\"direction\":\"upload\""), std::string::npos) << transfers[1];
  EXPECT_NE(transfers[1].find("\"path\":\"/up\""), std::string::npos) << transfers[1];
  EXPECT_NE(transfers[1].find("\"bytes\":8"), std::string::npos) << transfers[1];
  EXPECT_NE(transfers[1].find("\"result\":\"aborted\""), std::string::npos) << transfers[1];
  EXPECT_EQ(h.read_file("up"), "uploaded");
  (void)idle;
}

TEST(SftpFlow, CloseWaitsForTheBatchInFlightAndNothingFollowsDone) {
  SftpHarness h;
  h.init();
  h.write_file("f", std::string(1 << 20, 'q'));
  const auto in = open_handle(h, "/f", open_flag::read);
  Bytes stream;
  for (std::uint32_t i = 0; i < 32; ++i) append(stream, read_frame(i, in, std::uint64_t{i} * 32768, 32768));
  const int sends_before = h.sends();
  h.feed(stream);
  ASSERT_TRUE(h.close());
  const int sends_after_close = h.sends();
  h.settle();
  EXPECT_EQ(h.sends(), sends_after_close);
  EXPECT_LE(sends_after_close - sends_before, 1);
}

TEST(SftpFlow, ReceiveAfterFailureIsIgnored) {
  SftpHarness h;
  h.init();
  h.feed(Bytes{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}});
  ASSERT_TRUE(h.run_until([&] { return h.failure().has_value(); }));
  h.feed(Msg(Message::stat, 1).str("/").frame());
  h.settle();
  EXPECT_FALSE(h.has_reply());
  EXPECT_TRUE(h.close());
}

}  // namespace
}  // namespace filegate::sftp::test
