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
  // Logged-in sessions of one user at once, over all protocols (0: no limit); users[].max_sessions
  // overrides it per user. One more login gets FTP 530 or an SSH disconnect.
  std::size_t max_sessions_per_user{0};
  // Failed logins: the reply waits this long, and the session ends after this many failures.
  Milliseconds failed_login_delay{1000};
  unsigned max_login_failures{3};

  // SSH. Connections that have not logged in yet, over all SSH listeners: more are refused at
  // accept, so a flood of handshakes (each costs a key exchange) cannot starve logged-in users
  // of connection slots or CPU (OpenSSH: MaxStartups).
  std::size_t max_unauthenticated{64};
  // Public keys a client may offer that are not authorized for the account before the
  // connection ends. Offers cost no password hashing and are not login failures (an agent
  // with several keys would otherwise lock its owner out); OpenSSH counts them in MaxAuthTries.
  unsigned max_key_offers{10};
  // SFTP sessions (SSH channels) one connection may have open at once (OpenSSH: MaxSessions).
  unsigned max_ssh_channels{10};

  // SFTP. The frame cap is OpenSSH's SFTP_MAX_MSG_LENGTH: a longer frame ends the session
  // before any of it is buffered. READ lengths are cut to sftp_max_read; WRITE data and every
  // other message only have to fit in a frame. limits@openssh.com reports these to clients.
  std::uint32_t sftp_max_packet{256 * 1024};
  std::uint32_t sftp_max_read{256 * 1024 - 1024};
  std::uint32_t sftp_max_write{256 * 1024 - 1024};
  // Open file and directory handles per SFTP session.
  std::uint32_t sftp_max_handles{256};
  // Request bytes received but not yet answered (queued plus the batch in flight): above this
  // the transport stops reading the channel until the queue drains. OpenSSH's client keeps
  // 64 x 32 KiB writes in flight (just over 2 MiB); this leaves room for four such windows.
  std::size_t sftp_max_queued_bytes{8 * 1024 * 1024};
  // Reply bytes one batch of requests may produce before the rest wait for the next batch
  // (64 pipelined 32 KiB READs are 2 MiB; bounds the memory a flood of READs can pin).
  std::size_t sftp_max_batch_reply{4 * 1024 * 1024};
  // Bytes a copy-data or check-file request reads before it gives its worker thread back to
  // other sessions; it goes on in its session's next turn. A copy over a huge file thus never
  // takes a worker from everyone else for as long as the file takes.
  std::uint64_t sftp_request_slice{64 * 1024 * 1024};
};

}  // namespace filegate::core
