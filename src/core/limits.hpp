// Every limit and timeout, with its default, in one place. The YAML config overrides these
// (see README "Configuration"); nothing else in the code carries a default of its own.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace filegate::core {

using Seconds = std::chrono::seconds;
using Milliseconds = std::chrono::milliseconds;

struct Limits {
  // Control connection idle: no command for this long ends the session (FTP: 421).
  Seconds control_idle_timeout{300};
  // Time to complete login after connecting (pre-authentication grace).
  Seconds login_timeout{60};
  // How long a passive listener waits for the client's data connection, and how long an
  // active (PORT/EPRT) connect may take.
  Seconds data_connect_timeout{60};
  // A transfer that moves no byte for this long is aborted.
  Seconds transfer_stall_timeout{300};
  // Longest control line accepted, CRLF included; longer lines are refused (FTP: 500).
  std::size_t max_command_line{4096};
  // Connections accepted at once, over all protocols, and from one client address.
  std::size_t max_connections{1000};
  std::size_t max_connections_per_ip{100};
  // Failed logins: the reply waits this long, and the session ends after this many failures.
  Milliseconds failed_login_delay{1000};
  unsigned max_login_failures{3};
};

}  // namespace filegate::core
