// Any parsed txn at all, applied to a tree holding some nodes: DataTree::apply never throws, aborts
// or fails a QFS_CHECK; a txn that fails leaves the tree byte-identical; one that succeeds leaves a
// tree every replica can snapshot and load again; and a replica applying the txn's own encoding
// reaches the same tree and result.
//
// Deterministic: each seed is one sequence of txns. A failure names its seed and txn; replay with
//   QUORUMFS_FUZZ_SEED=<seed> build/tree_tests --gtest_filter='ApplyFuzz.*'
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "daemon/tree/validate.h"
#include "tests/unit/tree/tree_fixture.h"

namespace quorumfs::testing {
namespace {

constexpr int kTxnsPerSeed = 2500;
constexpr size_t kDataBytesMax = 64;  // small, so that the limit is often met
constexpr uint64_t kSessions[] = {7, 8, 9};

// A snapshot's bytes (the header without its last zxid, which every txn moves), the sessions and
// the counts the tree keeps as it changes (/metrics and mntr read them): equal encodings are equal
// trees.
std::string encode(const DataTree& tree) {
  std::string bytes;
  tree.write_snapshot(
      [&](const proto::SnapshotHeader& header) {
        proto::SnapshotHeader copy = header;
        copy.clear_last_zxid();
        bytes += copy.SerializeAsString();
      },
      [&](const proto::SnapshotNode& node) {
        std::string record = node.SerializeAsString();
        bytes += std::to_string(record.size()) + ':' + record;
      });
  for (uint64_t session : tree.sessions()) bytes += "session " + std::to_string(session);
  bytes += " nodes " + std::to_string(tree.node_count()) + " data bytes " + std::to_string(tree.data_bytes()) +
           " ephemerals " + std::to_string(tree.ephemeral_count()) + " open sessions " +
           std::to_string(tree.open_session_count());
  return bytes;
}

// What the generator may aim at: the tree's nodes as the snapshot lists them.
struct TreeView {
  struct Entry {
    std::string path;
    uint64_t inode = 0;
    bool directory = false;
    int32_t version = 0;
    int32_t aversion = 0;
    std::string data;
    proto::SnapshotNode record;
  };
  std::vector<Entry> nodes;
  uint64_t next_inode = 0;

  explicit TreeView(const DataTree& tree) {
    std::map<uint64_t, std::string> path_of;
    tree.write_snapshot([&](const proto::SnapshotHeader& header) { next_inode = header.next_inode(); },
                        [&](const proto::SnapshotNode& node) {
                          std::string path = node.parent_inode() == 0 ? "/" : path_of[node.parent_inode()];
                          if (node.parent_inode() != 0) path = (path == "/" ? "" : path) + "/" + node.name();
                          path_of[node.inode()] = path;
                          nodes.push_back({path, node.inode(), node.directory(), node.version(), node.aversion(),
                                           node.data(), node});
                        });
  }
};

class TxnGenerator {
 public:
  explicit TxnGenerator(uint64_t seed) : random_(seed) {}

  proto::Txn next(const TreeView& view) {
    // Half of the txns are well formed, so that multis get past validation and reach the tree.
    tame_ = chance(50);
    proto::Txn txn;
    txn.set_time_ns(pick_int64());
    *txn.mutable_caller() = caller();
    if (chance(10)) txn.set_session_id(session());
    uint64_t shape = below(1000);
    if (shape < 3) {
      // More ops than a txn may hold, each harmless.
      for (size_t i = 0; i <= kTxnOpsMax; ++i) *txn.add_ops() = check_op("/", -1);
    } else if (shape < 15) {
      chain(view, &txn);
    } else if (shape < 180) {
      rename(view, &txn);
    } else {
      size_t count = chance(60) ? 1 : 2 + below(4);
      for (size_t i = 0; i < count; ++i) *txn.add_ops() = op(view);
    }
    return txn;
  }

 private:
  uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(random_); }
  bool chance(int percent) { return below(100) < static_cast<uint64_t>(percent); }
  template <typename T>
  const T& one_of(const std::vector<T>& items) { return items[below(items.size())]; }

  int64_t pick_int64() {
    switch (below(5)) {
      case 0: return std::numeric_limits<int64_t>::min();
      case 1: return std::numeric_limits<int64_t>::max();
      case 2: return -static_cast<int64_t>(below(1'000'000'000'000));
      default: return 1'700'000'000'000'000'000 + static_cast<int64_t>(below(1'000'000'000'000));
    }
  }

  proto::Caller caller() {
    proto::Caller caller;
    uint64_t who = below(10);
    caller.set_uid(who < 3 ? 0 : who < 8 ? 1000 : static_cast<uint32_t>(random_()));
    caller.set_gid(chance(50) ? 100 : static_cast<uint32_t>(below(70000)));
    for (uint64_t i = below(4); i > 0; --i) caller.add_groups(static_cast<uint32_t>(below(70000)));
    return caller;
  }

  std::string bytes(size_t size) {
    std::string text(size, '\0');
    for (char& byte : text) byte = static_cast<char>(random_());
    return text;
  }

  std::string name() {
    static const std::vector<std::string> names = {
        "a", "b", "c", "q", "job-", "x y", "\xff\xfe", ".", "..", "...", "zookeeper", "n\n",
        std::string(kNameBytesMax, 'n'), std::string(kNameBytesMax - 10, 's'), std::string(kNameBytesMax + 1, 'n'),
        std::string(1000, 'n'), "", std::string("nu\0l", 4)};
    return chance(10) ? bytes(1 + below(8)) : one_of(names);
  }

  std::string deep_path(size_t depth) {
    std::string path;
    for (size_t i = 0; i < depth; ++i) path += "/d";
    return path;
  }

  std::string path(const TreeView& view) {
    const std::string& known = one_of(view.nodes).path;
    std::string under = known == "/" ? "" : known;
    if (tame_) {
      static const std::vector<std::string> names = {"a", "b", "c", "job-", "x y", "\xff\xfe", "..."};
      return chance(50) ? known : under + "/" + one_of(names);
    }
    switch (below(26)) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 20: case 21: case 22: return known;
      case 8: case 9: case 10: case 11: case 12: case 23: case 24: case 25: return under + "/" + name();
      case 13: return "/" + name();
      case 14: return under + "/" + name() + "/" + name();
      case 15: {
        static const std::vector<std::string> odd = {
            "", "/", "//", "/a/", "/./x", "/..", "/zookeeper", "/zookeeper/x", "relative", "/a//b",
            std::string("/a\0/b", 5), "/" + std::string(kPathBytesMax - 1, 'n')};
        return one_of(odd);
      }
      case 16: return deep_path(chance(50) ? kPathDepthMax : kPathDepthMax + 1);
      case 17: {
        std::string long_path = under;
        while (long_path.size() + 256 <= kPathBytesMax + 300) long_path += "/" + std::string(255, 'n');
        return long_path.substr(0, kPathBytesMax - 5 + below(10));
      }
      case 18: return "/" + bytes(below(12));
      default: return under + "/" + std::string(kNameBytesMax + below(3) - 1, 'm');
    }
  }

  std::string data() {
    if (tame_) return bytes(below(kDataBytesMax));
    switch (below(6)) {
      case 0: return "";
      case 1: return std::string(kDataBytesMax, 'd');
      case 2: return std::string(kDataBytesMax + 1, 'd');
      default: return bytes(below(16));
    }
  }

  std::string acl() {
    static const std::vector<std::string> acls = {
        "world:anyone:cdrwa", "uid:1000:r", "auth::cdrwa", "digest:bob:aGFzaA==:r", "ip:10.0.0.0/8:r",
        "world:anyone:", "uid:0:cdrwa,world:anyone:r", "gid:100:cdrw,uid:1000:a", "bogus", "world:anyone",
        "digest:\xff:x:cdrwa", "world:anyone:r\n", "uid:1:r,", "digest:bob:h*:r", std::string(kAclTextBytesMax + 1, 'x'),
        std::string("world:any\0one:r", 15)};
    if (tame_) return acls[below(8)];  // the valid ones
    return chance(5) ? bytes(below(20)) : one_of(acls);
  }

  void meta(proto::PosixMeta* meta, bool create) {
    int present = create ? (tame_ ? 100 : 97) : 40;
    if (chance(present)) meta->set_uid(chance(50) ? 1000 : static_cast<uint32_t>(random_()));
    if (chance(present)) meta->set_gid(static_cast<uint32_t>(below(70000)));
    if (chance(present)) meta->set_mode(tame_ || chance(85) ? static_cast<uint32_t>(below(010000)) : static_cast<uint32_t>(random_()));
    if (chance(30)) meta->set_atime_ns(pick_int64());
    if (chance(30)) meta->set_mtime_ns(pick_int64());
  }

  int32_t version(int32_t actual) {
    switch (below(6)) {
      case 0: case 1: return -1;
      case 2: case 3: return actual;
      case 4: return std::numeric_limits<int32_t>::min() + static_cast<int32_t>(below(2));
      default: return static_cast<int32_t>(random_());
    }
  }

  int32_t version_of(const TreeView& view, const std::string& path, bool acl) {
    for (const TreeView::Entry& entry : view.nodes) {
      if (entry.path == path) return version(acl ? entry.aversion : entry.version);
    }
    return version(0);
  }

  uint64_t inode(const TreeView& view) {
    switch (below(12)) {
      case 0: case 1: case 2: case 3: case 4: case 5: return 0;
      case 6: case 7: return one_of(view.nodes).inode;
      case 8: return view.next_inode - 1 + below(3);
      case 9: return 1 + below(2);
      case 10: return std::numeric_limits<uint64_t>::max();
      default: return random_();
    }
  }

  uint64_t session() {
    switch (below(4)) {
      case 0: return 0;
      case 1: return random_();
      default: return kSessions[below(3)];
    }
  }

  proto::Op create(const TreeView& view, const std::string& at) {
    proto::Op op;
    proto::CreateOp* create = op.mutable_create();
    create->set_path(at);
    create->set_data(data());
    create->set_directory(chance(40));
    create->set_sequential(chance(25));
    if (chance(30)) create->set_ephemeral_owner(session());
    meta(create->mutable_meta(), true);
    if (chance(25)) create->set_acl(acl());
    if (chance(20)) create->set_inode(inode(view));
    return op;
  }

  proto::Op op(const TreeView& view) {
    std::string at = path(view);
    switch (below(40)) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9: case 10: case 11:
        return create(view, at);
      case 12: case 13: case 14: case 15: case 16: case 17: {
        proto::Op op = delete_op(at, version_of(view, at, false));
        op.mutable_remove()->set_must_be_directory(chance(20));
        op.mutable_remove()->set_must_be_file(!op.remove().must_be_directory() || !tame_ ? chance(20) : false);
        return op;
      }
      case 18: case 19: case 20: case 21: return set_data_op(at, data(), version_of(view, at, false));
      case 22: case 23: case 24: case 25: return set_acl_op(at, acl(), version_of(view, at, true));
      case 26: case 27: case 28: case 29: {
        proto::Op op = set_meta_op(at);
        meta(op.mutable_set_meta()->mutable_meta(), false);
        return op;
      }
      case 30: case 31: case 32: case 33: return check_op(at, version_of(view, at, false));
      case 34: case 35: case 36: return close_session_op(session());
      case 37: case 38: return create_session_op(session());
      default: return tame_ ? check_op(at, -1) : proto::Op();  // no kind
    }
  }

  // Nested directories from a node down to the limits, which the tree's state alone never
  // reaches: a chain one name deeper than kPathDepthMax, or 255-byte names up to kPathBytesMax
  // with a last name that just fits or is one byte too long.
  void chain(const TreeView& view, proto::Txn* txn) {
    const TreeView::Entry& base = one_of(view.nodes);
    std::string path = base.path == "/" ? "" : base.path;
    if (chance(30)) {
      size_t depth = std::count(path.begin(), path.end(), '/');
      for (size_t level = depth; level <= kPathDepthMax; ++level) {
        path += "/d";
        *txn->add_ops() = dir_op(path);
      }
      return;
    }
    while (path.size() + 1 + kNameBytesMax <= kPathBytesMax) {
      path += "/" + std::string(kNameBytesMax, 'c');
      *txn->add_ops() = dir_op(path);
    }
    size_t room = path.size() + 1 < kPathBytesMax ? kPathBytesMax - path.size() - 1 : 0;
    size_t last = chance(50) ? room + 1 : room;
    if (last > 0) *txn->add_ops() = file_op(path + "/" + std::string(last, 'c'));
  }

  // The mount's rename, [delete target], create target with the source's inode, delete source,
  // and its broken variants: no delete of the source (two nodes would hold the inode), the
  // source deleted first, the target inside the source, the inode of the target's own parent.
  void rename(const TreeView& view, proto::Txn* txn) {
    const TreeView::Entry& source = one_of(view.nodes);
    const TreeView::Entry& other = one_of(view.nodes);
    std::string target = chance(50) ? other.path : path(view);
    if (chance(10)) target = (source.path == "/" ? "" : source.path) + "/" + name();
    proto::Op created = create(view, target);
    proto::CreateOp* create = created.mutable_create();
    create->set_data(source.data);
    create->set_directory(source.directory);
    create->set_sequential(chance(5));
    create->set_ephemeral_owner(source.record.ephemeral_owner());
    if (!source.record.acl().empty() && chance(80)) create->set_acl(source.record.acl());
    create->set_inode(chance(90) ? source.inode : other.inode);
    uint64_t variant = below(10);
    if (variant == 0) *txn->add_ops() = delete_op(source.path, version(source.version));
    if (chance(40) || target == other.path) *txn->add_ops() = delete_op(target, version(other.version));
    *txn->add_ops() = created;
    if (variant >= 2) *txn->add_ops() = delete_op(source.path, version(source.version));
    if (chance(10)) *txn->add_ops() = op(view);
  }

  std::mt19937_64 random_;
  bool tame_ = false;
};

// The starting tree: directories, files with data and ACLs, ephemerals of several sessions, a
// sequential counter about to wrap, a few levels of depth.
std::unique_ptr<DataTree> starting_tree() {
  DataTree tree;
  tree.set_data_bytes_max(kDataBytesMax);
  Zxid zxid = make_zxid(1, 0);
  proto::Caller root = user(0, 0);
  auto must = [&](proto::Op op) {
    proto::Txn txn;
    txn.set_time_ns(1'700'000'000'000'000'000);
    *txn.mutable_caller() = root;
    *txn.add_ops() = op;
    ApplyResult result = tree.apply(++zxid, txn);
    EXPECT_EQ(result.code, Code::kOk) << code_name(result.code) << " for " << op.ShortDebugString();
  };
  for (const char* dir : {"/a", "/a/b", "/a/b/c", "/q", "/e", "/open", "/locked"}) must(dir_op(dir));
  must(file_op("/a/f", "data"));
  must(file_op("/a/b/c/g", std::string(kDataBytesMax, 'x')));
  must(set_acl_op("/locked", "uid:0:cdrwa,world:anyone:r"));
  must(file_op("/locked/secret", "s"));
  must(set_acl_op("/open", "world:anyone:cdrwa,auth::a"));
  for (uint64_t session : kSessions) {
    must(create_session_op(session));
    proto::Op ephemeral = file_op("/e/member-");
    ephemeral.mutable_create()->set_sequential(true);
    ephemeral.mutable_create()->set_ephemeral_owner(session);
    must(ephemeral);
  }
  // /q's child counter two creates short of wrapping to negative suffixes.
  SnapshotRecords records = snapshot_of(tree);
  for (proto::SnapshotNode& record : records.nodes) {
    if (record.name() == "q") record.set_cversion(std::numeric_limits<int32_t>::max() - 1);
  }
  std::string error;
  std::unique_ptr<DataTree> loaded = load(records, &error);
  EXPECT_NE(loaded, nullptr) << error;
  if (loaded) loaded->set_data_bytes_max(kDataBytesMax);
  return loaded;
}

// What a committed change may never leave behind: names, paths and ACLs past the limits
// (limits.h), ACL text outside printable ASCII.
void expect_well_formed(const TreeView& view) {
  for (const TreeView::Entry& node : view.nodes) {
    size_t depth = node.path == "/" ? 0 : std::count(node.path.begin(), node.path.end(), '/');
    EXPECT_LE(node.path.size(), kPathBytesMax) << node.path.substr(0, 100);
    EXPECT_LE(depth, kPathDepthMax);
    const std::string& name = node.record.name();
    if (node.path != "/") {
      EXPECT_TRUE(!name.empty() && name.size() <= kNameBytesMax && name != "." && name != ".." &&
                  name.find_first_of(std::string("/\0", 2)) == std::string::npos)
          << ::testing::PrintToString(name);
    }
    const std::string& acl = node.record.acl();
    EXPECT_LE(acl.size(), kAclTextBytesMax);
    EXPECT_TRUE(std::all_of(acl.begin(), acl.end(), [](char c) { return c >= 0x20 && c <= 0x7e; }))
        << ::testing::PrintToString(acl);
  }
}

// The snapshot's records through their encoding, as a restarting replica reads them.
void expect_snapshot_reloads(const DataTree& tree) {
  SnapshotRecords records = snapshot_of(tree);
  for (proto::SnapshotNode& record : records.nodes) {
    proto::SnapshotNode parsed;
    ASSERT_TRUE(parsed.ParseFromString(record.SerializeAsString()));
    record = parsed;
  }
  std::string error;
  std::unique_ptr<DataTree> loaded = load(records, &error);
  ASSERT_NE(loaded, nullptr) << error;
  EXPECT_EQ(encode(*loaded), encode(tree));
}

bool same_results(const ApplyResult& a, const ApplyResult& b) {
  if (a.code != b.code || a.ops.size() != b.ops.size() || a.changes.size() != b.changes.size()) return false;
  for (size_t i = 0; i < a.ops.size(); ++i) {
    if (a.ops[i].code != b.ops[i].code || a.ops[i].path != b.ops[i].path || a.ops[i].inode != b.ops[i].inode) return false;
  }
  for (size_t i = 0; i < a.changes.size(); ++i) {
    const Change& x = a.changes[i];
    const Change& y = b.changes[i];
    if (x.kind != y.kind || x.inode != y.inode || x.parent_inode != y.parent_inode || x.name != y.name ||
        x.directory != y.directory) {
      return false;
    }
  }
  return true;
}

struct Tally {
  std::map<Code, int> codes;
  int multis = 0;
};

void run_seed(uint64_t seed, Tally* tally) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (QUORUMFS_FUZZ_SEED=" + std::to_string(seed) + " replays it)");
  std::unique_ptr<DataTree> tree = starting_tree();
  std::unique_ptr<DataTree> replica = starting_tree();
  ASSERT_TRUE(tree && replica);
  TxnGenerator generator(seed);
  Zxid zxid = make_zxid(2, 0);
  for (int i = 0; i < kTxnsPerSeed; ++i) {
    TreeView view(*tree);
    proto::Txn txn = generator.next(view);
    SCOPED_TRACE("txn " + std::to_string(i) + ": " + txn.ShortDebugString().substr(0, 600));
    proto::Txn parsed;
    ASSERT_TRUE(parsed.ParseFromString(txn.SerializeAsString())) << "a replica could not read this txn";

    const std::string before = encode(*tree);
    std::vector<Code> checked;
    for (const proto::Op& op : txn.ops()) checked.push_back(tree->check(op, txn.caller()));
    ASSERT_EQ(encode(*tree), before) << "check() changed the tree";

    ++zxid;
    ApplyResult result = tree->apply(zxid, txn);
    ApplyResult replayed = replica->apply(zxid, parsed);
    ++tally->codes[result.code];
    if (txn.ops_size() > 1) ++tally->multis;
    EXPECT_EQ(tree->last_applied_zxid(), zxid);
    ASSERT_TRUE(same_results(result, replayed)) << code_name(result.code) << " vs " << code_name(replayed.code);
    // (check() knows ops, not the txn's session, which apply() checks first)
    if (txn.ops_size() == 1 && checked[0] != Code::kOk && txn.session_id() == 0) {
      EXPECT_EQ(result.code, checked[0]) << "check() and apply() disagree";
    }
    if (result.code != Code::kOk) {
      EXPECT_TRUE(result.ops.empty());
      EXPECT_TRUE(result.changes.empty());
      ASSERT_EQ(encode(*tree), before) << "a failed txn (" << code_name(result.code) << ") changed the tree";
    } else {
      EXPECT_EQ(result.ops.size(), static_cast<size_t>(txn.ops_size()));
      expect_well_formed(TreeView(*tree));
    }
    ASSERT_EQ(encode(*replica), encode(*tree)) << "the replica that parsed the txn differs";
    if (i % 250 == 0) expect_snapshot_reloads(*tree);
    if (::testing::Test::HasFailure()) return;  // the first broken txn is the one to read
  }
  expect_snapshot_reloads(*tree);
}

TEST(ApplyFuzz, AnyTxn_NeverCrashesAndFailsWithoutATrace) {
  std::vector<uint64_t> seeds = {1, 2, 3};
  if (const char* replay = std::getenv("QUORUMFS_FUZZ_SEED")) seeds = {std::strtoull(replay, nullptr, 10)};
  Tally tally;
  for (uint64_t seed : seeds) {
    run_seed(seed, &tally);
    if (HasFailure()) return;
  }
  // The generator must reach both sides: successes (so the tree changes) and every kind of refusal.
  std::string summary;
  for (const auto& [code, count] : tally.codes) summary += std::string(code_name(code)) + "=" + std::to_string(count) + " ";
  RecordProperty("codes", summary);
  for (Code code : {Code::kOk, Code::kBadArguments, Code::kNameTooLong, Code::kNoNode, Code::kNodeExists,
                    Code::kBadVersion, Code::kInvalidAcl, Code::kDataTooLarge, Code::kReadOnly, Code::kNoAuth,
                    Code::kNotEmpty}) {
    EXPECT_GT(tally.codes[code], 0) << "no txn ended " << code_name(code) << "; codes: " << summary;
  }
  EXPECT_GT(tally.codes[Code::kOk], static_cast<int>(seeds.size()) * kTxnsPerSeed / 10) << summary;
  EXPECT_GT(tally.multis, 0);
}

}  // namespace
}  // namespace quorumfs::testing
