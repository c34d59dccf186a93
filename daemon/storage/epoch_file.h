// Zab's acceptedEpoch and currentEpoch: one decimal number per file in the data dir, written to
// a temp file, fsynced, renamed and the directory fsynced (docs/zab.md §1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace quorumfs {

// Missing file: 0. Unparsable: nullopt with *error.
std::optional<uint32_t> read_epoch_file(const std::string& path, std::string* error);
bool write_epoch_file(const std::string& path, uint32_t epoch, std::string* error);

}  // namespace quorumfs
