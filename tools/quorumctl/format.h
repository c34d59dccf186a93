// quorumctl's pure parts (docs/quorumctl.md): exit codes and the errno / ZooKeeper code each
// stands for, the multi op syntax, the dump format's records, base64, and the parsing of the
// daemon's mntr answer that `status` prints. No I/O: unit-tested on their own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quorumfs::quorumctl {

// Exit codes (docs/quorumctl.md, "Exit codes"). Stable: scripts test them.
enum Exit : int {
  kExitOk = 0,
  kExitUsage = 1,        // bad arguments, bad multi op or dump text
  kExitNoNode = 2,       // ENOENT, NoNode
  kExitBadVersion = 3,   // BadVersion: a compare-and-set lost, nothing written
  kExitNodeExists = 4,   // EEXIST, NodeExists (restore without --force)
  kExitNotPermitted = 5, // EACCES, EPERM, NoAuth
  kExitTimeout = 6,      // wait --timeout ran out
  kExitUnreachable = 7,  // not inside a quorumfs mount, daemon gone, control socket unusable
  kExitNotEmpty = 8,     // ENOTEMPTY, NotEmpty
  kExitOther = 9,        // any other error; the message names it
};

// The exit code of a failed system call's errno.
int exit_for_errno(int error);
// The exit code of a ZooKeeper error code (KeeperException.Code, negative).
int exit_for_zk(int32_t code);
// ZooKeeper's name of a code ("BadVersion"), or "error N".
std::string zk_code_name(int32_t code);

std::string base64_encode(std::string_view bytes);
// nullopt when text is not base64 (padding optional, no whitespace).
std::optional<std::string> base64_decode(std::string_view text);

// One op of `quorumctl multi`, as written on its command line or on a line of its stdin:
//   create PATH [DATA]     setData|set PATH DATA [VERSION]     delete PATH [VERSION]
//   check PATH VERSION
// Words are separated by blanks; DATA may be quoted with '...' or "..." ("\" escapes in double
// quotes); VERSION is an integer, -1 = any. DATA "@-" is not read from stdin.
struct MultiOp {
  enum class Kind { kCreate, kSetData, kDelete, kCheck };
  Kind kind = Kind::kCheck;
  std::string path;  // a znode path or a path in the mount, as given
  std::string data;
  int32_t version = -1;
};
// Splits a line into words as above; false with *error on an unclosed quote.
bool split_words(std::string_view line, std::vector<std::string>* words, std::string* error);
// Parses one op's words; false with *error saying why.
bool parse_multi_op(const std::vector<std::string>& words, MultiOp* op, std::string* error);
// Parses a decimal version in [-1, 2^31-1].
bool parse_version(std::string_view text, int32_t* version);

// One node of a dump (docs/quorumctl.md, "Dump format"): a JSON object per line.
struct DumpRecord {
  std::string path;        // relative to the dumped subtree's root: "" for the root, "a/b"
  bool directory = false;
  std::string data;        // raw bytes (base64 in the line)
  std::string acl;         // ZooKeeper's text form
  uint32_t mode = 0;       // permission bits incl. sticky, set-gid, set-uid
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
};
inline constexpr int kDumpFormatVersion = 1;
std::string dump_header_line(std::string_view root);
std::string dump_record_line(const DumpRecord& record);
// Parses the header; false when the line is not one of this format's version.
bool parse_dump_header(std::string_view line, std::string* root, std::string* error);
bool parse_dump_record(std::string_view line, DumpRecord* record, std::string* error);
// A record path must not climb out of the restore's target: no "..", ".", empty names, NUL,
// leading or trailing "/".
bool safe_relative_path(std::string_view path);

// The lines of a four-letter word's answer "key<TAB>value" (mntr) or "Key: value" (srvr).
std::map<std::string, std::string> parse_word_answer(std::string_view text);

}  // namespace quorumfs::quorumctl
