// Reply formatting: single and multi-line replies, and the sanitising that keeps a file name
// from forging a reply line.
#include "ftp/reply.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace filegate::ftp {
namespace {

using namespace std::string_view_literals;

TEST(FormatReply, CodeSpaceTextCrlf) {
  EXPECT_EQ(format_reply(200, "NOOP ok."), "200 NOOP ok.\r\n");
  EXPECT_EQ(format_reply(550, ""), "550 \r\n");
  EXPECT_EQ(format_reply(150, "  spaced  "), "150   spaced  \r\n");
}

TEST(FormatReply, ControlLineBreaksAndNulAreReplaced) {
  EXPECT_EQ(format_reply(550, "a\r\n230 forged"), "550 a  230 forged\r\n");
  EXPECT_EQ(format_reply(550, "x\ny"), "550 x y\r\n");
  EXPECT_EQ(format_reply(550, "x\ry"), "550 x y\r\n");
  EXPECT_EQ(format_reply(550, "x\0y"sv), "550 x y\r\n");
  EXPECT_EQ(format_reply(550, "\r\n"), "550   \r\n");
}

TEST(FormatReply, OtherBytesPassThrough) {
  EXPECT_EQ(format_reply(257, "\"caf\xc3\xa9\" \t"), "257 \"caf\xc3\xa9\" \t\r\n");
}

TEST(FormatMultiline, BodyLinesGetALeadingSpace) {
  const std::vector<std::string> body{"UTF8", "SIZE", "MDTM"};
  EXPECT_EQ(format_multiline(211, "Features:", body, "End"),
            "211-Features:\r\n UTF8\r\n SIZE\r\n MDTM\r\n211 End\r\n");
}

TEST(FormatMultiline, EmptyBody) {
  EXPECT_EQ(format_multiline(214, "first", {}, "last"), "214-first\r\n214 last\r\n");
}

TEST(FormatMultiline, ABodyLineCannotCloseTheReply) {
  // A file name that looks like the closing line stays indented.
  const std::vector<std::string> body{"211 End", "230 Login successful."};
  EXPECT_EQ(format_multiline(211, "Status:", body, "End"),
            "211-Status:\r\n 211 End\r\n 230 Login successful.\r\n211 End\r\n");
}

TEST(FormatMultiline, BreaksInsideAnyPartAreReplaced) {
  const std::vector<std::string> body{"name\r\n230 forged", std::string("a\0b", 3), "c\rd\ne"};
  EXPECT_EQ(format_multiline(250, "first\r\n211 x", body, "last\nline"),
            "250-first  211 x\r\n name  230 forged\r\n a b\r\n c d e\r\n250 last line\r\n");
}

TEST(FormatMultiline, EveryLineEndsInCrlfAndNoBareBreaks) {
  const std::vector<std::string> body{"\n", "\r", "\r\n\r\n", "", "ok"};
  const std::string out = format_multiline(213, "\n\n", body, "\r");
  // Count lines: every '\n' is preceded by '\r' and every '\r' followed by '\n'.
  std::size_t lines = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\r') {
      ASSERT_LT(i + 1, out.size());
      EXPECT_EQ(out[i + 1], '\n') << i;
    }
    if (out[i] == '\n') {
      ASSERT_GT(i, 0u);
      EXPECT_EQ(out[i - 1], '\r') << i;
      ++lines;
    }
  }
  EXPECT_EQ(lines, body.size() + 2);
}

TEST(QuotePath, QuotesAndDoublesEmbeddedQuotes) {
  EXPECT_EQ(quote_path("/"), "\"/\"");
  EXPECT_EQ(quote_path("/a b/c"), "\"/a b/c\"");
  EXPECT_EQ(quote_path("/say \"hi\""), "\"/say \"\"hi\"\"\"");
  EXPECT_EQ(quote_path("\""), "\"\"\"\"");
  EXPECT_EQ(quote_path(""), "\"\"");
}

TEST(QuotePath, InsideA257ReplyStaysOneLine) {
  const std::string reply = format_reply(257, quote_path("/x\r\n230 y") + " created.");
  EXPECT_EQ(reply, "257 \"/x  230 y\" created.\r\n");
}

}  // namespace
}  // namespace filegate::ftp
