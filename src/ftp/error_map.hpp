// The one place where VFS and realm errors become FTP replies.
#pragma once

#include "core/result.hpp"
#include "ftp/reply.hpp"

namespace filegate::ftp {

// A reply for a failed filesystem operation.
Reply reply_for(const error_code& ec);

}  // namespace filegate::ftp
