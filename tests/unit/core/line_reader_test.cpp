#include "core/line_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace filegate::core {
namespace {

std::span<const char> span_of(std::string_view s) { return std::span(s.data(), s.size()); }

// Feeds everything, collecting each line as it completes.
std::vector<LineReader::Line> feed_all(LineReader& reader, std::string_view input) {
  std::vector<LineReader::Line> lines;
  while (!input.empty()) {
    const auto used = reader.feed(span_of(input));
    input.remove_prefix(used);
    if (auto line = reader.next()) lines.push_back(std::move(*line));
    else if (used == 0) break;
  }
  return lines;
}

TEST(LineReader, CrlfAndBareLf) {
  LineReader reader(100);
  const auto lines = feed_all(reader, "USER bob\r\nPASS x\nNOOP\r\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].status, LineReader::Status::ok);
  EXPECT_EQ(lines[0].text, "USER bob");
  EXPECT_EQ(lines[1].text, "PASS x");
  EXPECT_EQ(lines[2].text, "NOOP");
}

TEST(LineReader, OnlyTheFinalCrIsStripped) {
  LineReader reader(100);
  const auto lines = feed_all(reader, "a\rb\r\r\n\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "a\rb\r");
  EXPECT_EQ(lines[1].status, LineReader::Status::ok);
  EXPECT_EQ(lines[1].text, "");
}

TEST(LineReader, PartialLinesAcrossFeeds) {
  LineReader reader(100);
  EXPECT_EQ(reader.feed(span_of("RE")), 2u);
  EXPECT_FALSE(reader.has_line());
  EXPECT_FALSE(reader.next());
  EXPECT_EQ(reader.feed(span_of("TR f")), 4u);
  EXPECT_EQ(reader.feed(span_of("\r")), 1u);
  EXPECT_FALSE(reader.has_line());
  EXPECT_EQ(reader.feed(span_of("\n")), 1u);
  ASSERT_TRUE(reader.has_line());
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_EQ(line->text, "RETR f");
  EXPECT_FALSE(reader.has_line());
}

TEST(LineReader, CapCountsTheTerminator) {
  // Cap 10: "12345678\r\n" is exactly 10 bytes and fits; one more byte does not.
  {
    LineReader reader(10);
    const auto lines = feed_all(reader, "12345678\r\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].status, LineReader::Status::ok);
    EXPECT_EQ(lines[0].text, "12345678");
  }
  {
    LineReader reader(10);
    const auto lines = feed_all(reader, "123456789\r\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].status, LineReader::Status::too_long);
    EXPECT_EQ(lines[0].text, "");
  }
  {
    LineReader reader(10);
    const auto lines = feed_all(reader, "123456789\n");  // bare LF: 10 bytes, fits
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].status, LineReader::Status::ok);
  }
  {
    LineReader reader(10);
    const auto lines = feed_all(reader, "1234567890\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].status, LineReader::Status::too_long);
  }
}

TEST(LineReader, CapAppliesAcrossFeeds) {
  LineReader reader(10);
  // Byte by byte: exactly at the cap fits...
  for (char c : std::string("12345678\r\n")) reader.feed(std::span(&c, 1));
  auto ok = reader.next();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, LineReader::Status::ok);
  EXPECT_EQ(ok->text, "12345678");
  // ...one over does not, even when the terminator arrives alone.
  reader.feed(span_of("1234567890"));
  EXPECT_FALSE(reader.has_line());
  reader.feed(span_of("\n"));
  auto over = reader.next();
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, LineReader::Status::too_long);
}

TEST(LineReader, TooLongThenNextLineStillParsed) {
  LineReader reader(16);
  const std::string huge(10000, 'A');
  const auto lines = feed_all(reader, huge + "\r\nNOOP\r\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].status, LineReader::Status::too_long);
  EXPECT_EQ(lines[1].status, LineReader::Status::ok);
  EXPECT_EQ(lines[1].text, "NOOP");
}

TEST(LineReader, TooLongDiscardsAcrossManyFeeds) {
  LineReader reader(8);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(reader.feed(span_of("xxxxxxxxxxxxxxxx")), 16u);
    EXPECT_FALSE(reader.has_line());
  }
  reader.feed(span_of("\n"));
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_EQ(line->status, LineReader::Status::too_long);
  const auto rest = feed_all(reader, "OK\r\n");
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, "OK");
}

TEST(LineReader, NulIsReported) {
  LineReader reader(100);
  const auto lines = feed_all(reader, std::string_view("US\0ER\r\nNOOP\r\n", 13));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].status, LineReader::Status::has_nul);
  EXPECT_EQ(lines[0].text, "");
  EXPECT_EQ(lines[1].status, LineReader::Status::ok);
  EXPECT_EQ(lines[1].text, "NOOP");
}

TEST(LineReader, FeedStopsAfterOneLine) {
  LineReader reader(100);
  const std::string_view input = "AUTH TLS\r\n\x16\x03\x01garbage";
  const auto used = reader.feed(span_of(input));
  EXPECT_EQ(used, 10u);  // "AUTH TLS\r\n"
  ASSERT_TRUE(reader.has_line());
  // Nothing more is taken until the line has been collected.
  EXPECT_EQ(reader.feed(span_of(input.substr(used))), 0u);
  auto line = reader.next();
  ASSERT_TRUE(line);
  EXPECT_EQ(line->text, "AUTH TLS");
  // After a stream upgrade the caller resets and discards the rest.
  reader.feed(span_of("PART"));
  reader.reset();
  const auto lines = feed_all(reader, "PBSZ 0\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "PBSZ 0");
}

TEST(LineReader, ResetDropsPartialAndDiscardState) {
  LineReader reader(4);
  reader.feed(span_of("toolongline"));
  reader.reset();
  const auto lines = feed_all(reader, "ab\r\n");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].status, LineReader::Status::ok);
  EXPECT_EQ(lines[0].text, "ab");
  // reset also drops a ready line.
  reader.feed(span_of("cd\n"));
  ASSERT_TRUE(reader.has_line());
  reader.reset();
  EXPECT_FALSE(reader.has_line());
  EXPECT_FALSE(reader.next());
}

TEST(LineReader, EmptyFeed) {
  LineReader reader(4);
  EXPECT_EQ(reader.feed({}), 0u);
  EXPECT_FALSE(reader.has_line());
}

TEST(StripTelnet, PlainTextUnchanged) {
  EXPECT_EQ(strip_telnet("ABOR"), "ABOR");
  EXPECT_EQ(strip_telnet(""), "");
  EXPECT_EQ(strip_telnet("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(StripTelnet, InterruptAndDataMark) {
  // IAC IP IAC DM ABOR, as sent by clients in front of an urgent ABOR.
  EXPECT_EQ(strip_telnet("\xff\xf4\xff\xf2" "ABOR"), "ABOR");
  EXPECT_EQ(strip_telnet("\xff\xf4" "ABOR"), "ABOR");
  EXPECT_EQ(strip_telnet("AB\xff\xf2OR"), "ABOR");
}

TEST(StripTelnet, EscapedIacBecomesOneByte) {
  EXPECT_EQ(strip_telnet("a\xff\xff" "b"), "a\xff" "b");
  EXPECT_EQ(strip_telnet("\xff\xff\xff\xff"), "\xff\xff");
}

TEST(StripTelnet, OptionNegotiationRemoved) {
  // WILL (251), WONT (252), DO (253), DONT (254) take an option byte.
  EXPECT_EQ(strip_telnet("\xff\xfb\x01" "NOOP"), "NOOP");
  EXPECT_EQ(strip_telnet("\xff\xfc\x03" "NOOP"), "NOOP");
  EXPECT_EQ(strip_telnet("\xff\xfd\x18" "NOOP"), "NOOP");
  EXPECT_EQ(strip_telnet("NO\xff\xfe\x22OP"), "NOOP");
}

TEST(StripTelnet, TruncatedSequencesAtEnd) {
  EXPECT_EQ(strip_telnet("ABOR\xff"), "ABOR");
  EXPECT_EQ(strip_telnet("ABOR\xff\xfb"), "ABOR");
  EXPECT_EQ(strip_telnet("\xff"), "");
}

}  // namespace
}  // namespace filegate::core
