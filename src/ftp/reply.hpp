// FTP reply formatting (RFC 959 section 4.2). Text is sanitised: CR and LF never reach the
// wire inside a reply line, so a file name cannot forge a reply.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace filegate::ftp {

struct Reply {
  int code;
  std::string text;
};

// "CODE text\r\n"
std::string format_reply(int code, std::string_view text);
// "CODE-first\r\n", " line\r\n" for each body line, "CODE last\r\n".
std::string format_multiline(int code, std::string_view first, std::span<const std::string> body,
                             std::string_view last);
// A path inside a 257 reply: quoted, embedded quotes doubled (RFC 959 appendix II).
std::string quote_path(std::string_view path);

}  // namespace filegate::ftp
