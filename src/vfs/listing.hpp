// Directory listing lines shared by the protocol front-ends: FTP's LIST and SFTP's READDIR
// longname are the same `ls -l` line, generated in-process (never by running `ls`).
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "vfs/filesystem.hpp"

namespace filegate::vfs {

// One `ls -l` line: "-rw-r--r--   1 ftp      ftp          1234 Nov 21 06:40 name".
// `now` decides between "HH:MM" (recent) and " YYYY" (older than six months or in the future).
// Name and link target are shown with display_name.
std::string list_line(const DirectoryEntry& entry, TimePoint now);

// A name as a listing shows it: control characters (C0 and DEL) become '?', as `ls` shows them
// on a terminal. SECURITY: a name may hold any byte but '/' and NUL (an SFTP client can create
// "a\r\n226 Done"); a CR or LF in a listing line would end it early, and in an FTP listing or
// STAT reply let the name forge entries or replies. Protocols that frame names by length (SFTP's
// filename field) send them as they are.
std::string display_name(std::string_view name);

// The calendar fields of `time` in UTC (listings and FTP time values are always UTC).
std::tm to_utc(TimePoint time);

}  // namespace filegate::vfs
