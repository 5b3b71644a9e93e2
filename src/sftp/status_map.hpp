// The one place where VFS and realm errors become SFTP status codes (SSH_FX_*) and messages.
#pragma once

#include <string_view>

#include "core/result.hpp"
#include "sftp/protocol.hpp"

namespace filegate::sftp {

struct StatusReply {
  Status status;
  std::string_view message;
};

// The status for a failed filesystem operation.
StatusReply status_for(const error_code& ec);

// The standard message of a status code ("Success", "End of file" ...), as OpenSSH sends.
std::string_view status_message(Status status);

}  // namespace filegate::sftp
