// Directory listing lines shared by the protocol front-ends: FTP's LIST and SFTP's READDIR
// longname are the same `ls -l` line, generated in-process (never by running `ls`).
#pragma once

#include <ctime>
#include <string>

#include "vfs/filesystem.hpp"

namespace filegate::vfs {

// One `ls -l` line: "-rw-r--r--   1 ftp      ftp          1234 Nov 21 06:40 name".
// `now` decides between "HH:MM" (recent) and " YYYY" (older than six months or in the future).
std::string list_line(const DirectoryEntry& entry, TimePoint now);

// The calendar fields of `time` in UTC (listings and FTP time values are always UTC).
std::tm to_utc(TimePoint time);

}  // namespace filegate::vfs
