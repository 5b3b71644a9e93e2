// Data-connection addresses: PORT and EPRT arguments in, PASV and EPSV replies out
// (RFC 959, RFC 2428). Pure functions over untrusted text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/asio.hpp"
#include "core/result.hpp"

namespace filegate::ftp {

enum class AddressError { syntax, unsupported_family };

struct ParsedAddress {
  std::optional<tcp::endpoint> endpoint;
  AddressError error = AddressError::syntax;
};

// "h1,h2,h3,h4,p1,p2"
ParsedAddress parse_port(std::string_view argument);
// "|1|132.235.1.2|6275|" or "|2|::1|6275|" (any delimiter from '!' to '~').
ParsedAddress parse_eprt(std::string_view argument);

// "Entering Passive Mode (h1,h2,h3,h4,p1,p2)."
std::string format_pasv(const asio::ip::address_v4& address, unsigned short port);
// "Entering Extended Passive Mode (|||port|)"
std::string format_epsv(unsigned short port);

}  // namespace filegate::ftp
