// Helpers for the tree tests: op builders, a fixture that applies txns with rising zxids and
// times, and a full dump of a tree to prove that a failed txn changed nothing.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "daemon/tree/data_tree.h"

namespace quorumfs {
// gtest prints codes by name.
inline void PrintTo(Code code, std::ostream* out) { *out << code_name(code); }
}  // namespace quorumfs

namespace quorumfs::testing {

inline proto::Caller user(uint32_t uid, uint32_t gid = 100) {
  proto::Caller caller;
  caller.set_uid(uid);
  caller.set_gid(gid);
  return caller;
}

inline proto::Op create_op(std::string_view path, bool directory, std::string_view data = "") {
  proto::Op op;
  proto::CreateOp* create = op.mutable_create();
  create->set_path(std::string(path));
  create->set_data(std::string(data));
  create->set_directory(directory);
  create->mutable_meta()->set_uid(1000);
  create->mutable_meta()->set_gid(100);
  create->mutable_meta()->set_mode(directory ? 0755 : 0644);
  return op;
}
inline proto::Op file_op(std::string_view path, std::string_view data = "") { return create_op(path, false, data); }
inline proto::Op dir_op(std::string_view path) { return create_op(path, true); }

inline proto::Op delete_op(std::string_view path, int32_t expected_version = -1) {
  proto::Op op;
  op.mutable_remove()->set_path(std::string(path));
  op.mutable_remove()->set_expected_version(expected_version);
  return op;
}

inline proto::Op set_data_op(std::string_view path, std::string_view data, int32_t expected_version = -1) {
  proto::Op op;
  op.mutable_set_data()->set_path(std::string(path));
  op.mutable_set_data()->set_data(std::string(data));
  op.mutable_set_data()->set_expected_version(expected_version);
  return op;
}

inline proto::Op set_acl_op(std::string_view path, std::string_view acl, int32_t expected_aversion = -1) {
  proto::Op op;
  op.mutable_set_acl()->set_path(std::string(path));
  op.mutable_set_acl()->set_acl(std::string(acl));
  op.mutable_set_acl()->set_expected_aversion(expected_aversion);
  return op;
}

inline proto::Op set_meta_op(std::string_view path) {
  proto::Op op;
  op.mutable_set_meta()->set_path(std::string(path));
  return op;
}

inline proto::Op check_op(std::string_view path, int32_t expected_version) {
  proto::Op op;
  op.mutable_check()->set_path(std::string(path));
  op.mutable_check()->set_expected_version(expected_version);
  return op;
}

inline proto::Op create_session_op(uint64_t session, uint32_t timeout_ms = 0) {
  proto::Op op;
  op.mutable_create_session()->set_session_id(session);
  op.mutable_create_session()->set_timeout_ms(timeout_ms);
  return op;
}

inline proto::Op close_session_op(uint64_t session) {
  proto::Op op;
  op.mutable_close_session()->set_session_id(session);
  return op;
}

// Everything a snapshot holds except the last zxid, which every txn moves.
inline std::string dump(const DataTree& tree) {
  std::string text;
  tree.write_snapshot(
      [&](const proto::SnapshotHeader& header) {
        proto::SnapshotHeader copy = header;
        copy.clear_last_zxid();
        text += copy.ShortDebugString() + "\n";
      },
      [&](const proto::SnapshotNode& node) { text += node.ShortDebugString() + "\n"; });
  for (uint64_t session : tree.sessions()) text += "session " + std::to_string(session) + "\n";
  return text;
}

struct SnapshotRecords {
  proto::SnapshotHeader header;
  std::vector<proto::SnapshotNode> nodes;
};

inline SnapshotRecords snapshot_of(const DataTree& tree) {
  SnapshotRecords records;
  tree.write_snapshot([&](const proto::SnapshotHeader& header) { records.header = header; },
                      [&](const proto::SnapshotNode& node) { records.nodes.push_back(node); });
  return records;
}

// Null with *error set when the records are refused.
inline std::unique_ptr<DataTree> load(const SnapshotRecords& records, std::string* error) {
  size_t next = 0;
  return DataTree::from_snapshot(
      records.header,
      [&](proto::SnapshotNode* node) {
        if (next == records.nodes.size()) return false;
        *node = records.nodes[next++];
        return true;
      },
      error);
}

// The tree records load into; a failure to load fails the test.
inline std::unique_ptr<DataTree> reload(const SnapshotRecords& records) {
  std::string error;
  std::unique_ptr<DataTree> loaded = load(records, &error);
  EXPECT_NE(loaded, nullptr) << error;
  return loaded;
}

// Why records do not load; that they do fails the test.
inline std::string refusal(const SnapshotRecords& records) {
  std::string error;
  EXPECT_EQ(load(records, &error), nullptr);
  EXPECT_FALSE(error.empty());
  return error;
}

class TreeTest : public ::testing::Test {
 protected:
  static constexpr int64_t kStartTimeNs = 1'700'000'000'123'456'789;

  // Applies one txn as caller, at the next zxid and one second after the previous txn.
  ApplyResult apply(std::vector<proto::Op> ops, const proto::Caller& caller) {
    proto::Txn txn;
    txn.set_time_ns(next_time_ns());
    *txn.mutable_caller() = caller;
    for (proto::Op& op : ops) *txn.add_ops() = std::move(op);
    return tree.apply(++zxid, txn);
  }
  ApplyResult apply(std::vector<proto::Op> ops) { return apply(std::move(ops), caller); }
  Code apply_one(proto::Op op, const proto::Caller& as) { return apply({std::move(op)}, as).code; }
  Code apply_one(proto::Op op) { return apply_one(std::move(op), caller); }

  void must(proto::Op op) {
    std::string text = op.ShortDebugString();
    ApplyResult result = apply({std::move(op)});
    ASSERT_EQ(result.code, Code::kOk) << code_name(result.code) << " for " << text;
  }

  // The op fails with expected, the tree is exactly as before, and check() agreed beforehand.
  void expect_failure(proto::Op op, Code expected, const proto::Caller& as) {
    std::string before = dump(tree);
    EXPECT_EQ(tree.check(op, as), expected) << "check() of " << op.ShortDebugString();
    EXPECT_EQ(dump(tree), before) << "check() changed the tree";
    ApplyResult result = apply({op}, as);
    EXPECT_EQ(result.code, expected) << code_name(result.code) << " for " << op.ShortDebugString();
    EXPECT_TRUE(result.ops.empty());
    EXPECT_TRUE(result.changes.empty());
    EXPECT_EQ(tree.last_applied_zxid(), zxid);
    EXPECT_EQ(dump(tree), before) << "failed op changed the tree: " << op.ShortDebugString();
  }
  void expect_failure(proto::Op op, Code expected) { expect_failure(std::move(op), expected, caller); }

  const Node& node(std::string_view path) {
    const Node* found = tree.find(path);
    EXPECT_NE(found, nullptr) << path;
    static const DataTree empty;
    return found ? *found : empty.root();
  }

  std::vector<std::string> children(std::string_view path, std::string_view after = "") {
    std::vector<std::string> names;
    node(path).for_each_child(after, [&](const Node& child) {
      names.emplace_back(child.name());
      return true;
    });
    return names;
  }

  int64_t next_time_ns() { return time_ns += 1'000'000'000; }

  DataTree tree;
  Zxid zxid = make_zxid(1, 0);
  int64_t time_ns = kStartTimeNs;
  proto::Caller caller = user(1000);
};

}  // namespace quorumfs::testing
