// memfs_floor: the smallest in-memory libfuse3 low-level filesystem we can write, kept only as the
// performance floor quorumfs is measured against. Whatever it costs is the price of FUSE itself.
//
//   $ mkdir -p /tmp/x && memfs_floor -f /tmp/x &
//   $ echo hello > /tmp/x/a && mkdir /tmp/x/d && ls /tmp/x
//   a  d
//   $ cat /tmp/x/a
//   hello
//   $ fusermount3 -u /tmp/x        # or kill -TERM the daemon; both end the loop cleanly
//
// No durability, no xattrs, no rename, no links. It mounts with the product's options
// (allow_other, auto_unmount, default_permissions), runs a single-threaded loop (the multi-threaded
// one was slower on 2 vCPUs, docs/kernel.md, "Floors") and uses the product's cache settings:
// entry/attr timeout 1 s, keep_cache on read-only opens.

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr double kCacheTimeout_s = 1.0;

struct Node {
  struct stat attr {};
  std::string data;                         // file contents
  std::map<std::string, fuse_ino_t> children;  // directory entries
  uint64_t lookups = 0;                     // kernel references; the node lives while > 0 or linked
};

struct Fs {
  std::unordered_map<fuse_ino_t, Node> nodes;
  fuse_ino_t ino_next = FUSE_ROOT_ID + 1;
};

Fs& fs_of(fuse_req_t req) { return *static_cast<Fs*>(fuse_req_userdata(req)); }

timespec now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

Node* find(Fs& fs, fuse_ino_t ino) {
  auto it = fs.nodes.find(ino);
  return it == fs.nodes.end() ? nullptr : &it->second;
}

Node& make_node(Fs& fs, fuse_ino_t ino, mode_t mode, const fuse_ctx* ctx) {
  Node& node = fs.nodes[ino];
  node.attr.st_ino = ino;
  node.attr.st_mode = mode;
  node.attr.st_nlink = S_ISDIR(mode) ? 2 : 1;
  node.attr.st_uid = ctx ? ctx->uid : 0;
  node.attr.st_gid = ctx ? ctx->gid : 0;
  node.attr.st_blksize = 4096;
  node.attr.st_atim = node.attr.st_mtim = node.attr.st_ctim = now();
  return node;
}

// A node is freed only once it is unlinked AND the kernel has forgotten it, so an open file keeps
// its data after unlink as POSIX requires.
void maybe_free(Fs& fs, fuse_ino_t ino) {
  Node* node = find(fs, ino);
  if (node && node->attr.st_nlink == 0 && node->lookups == 0) fs.nodes.erase(ino);
}

// Every entry handed to the kernel is one more lookup it will forget later.
fuse_entry_param entry_of(Node& node) {
  fuse_entry_param entry{};
  entry.ino = node.attr.st_ino;
  entry.attr = node.attr;
  entry.attr_timeout = kCacheTimeout_s;
  entry.entry_timeout = kCacheTimeout_s;
  ++node.lookups;
  return entry;
}

void reply_entry(fuse_req_t req, Node& node) {
  const fuse_entry_param entry = entry_of(node);
  fuse_reply_entry(req, &entry);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Fs& fs = fs_of(req);
  Node* dir = find(fs, parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return (void)fuse_reply_err(req, ENOENT);
  reply_entry(req, fs.nodes.at(it->second));
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs& fs = fs_of(req);
  if (Node* node = find(fs, ino)) {
    node->lookups -= std::min(node->lookups, nlookup);
    maybe_free(fs, ino);
  }
  fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  Node* node = find(fs_of(req), ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  fuse_reply_attr(req, &node->attr, kCacheTimeout_s);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  Node* node = find(fs_of(req), ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  struct stat& st = node->attr;
  const timespec ts = now();
  if (to_set & FUSE_SET_ATTR_MODE) st.st_mode = (st.st_mode & S_IFMT) | (attr->st_mode & 07777);
  if (to_set & FUSE_SET_ATTR_UID) st.st_uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) st.st_gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (S_ISDIR(st.st_mode)) return (void)fuse_reply_err(req, EISDIR);
    node->data.resize(attr->st_size);
    st.st_size = attr->st_size;
    st.st_mtim = ts;
  }
  if (to_set & FUSE_SET_ATTR_ATIME) st.st_atim = attr->st_atim;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) st.st_atim = ts;
  if (to_set & FUSE_SET_ATTR_MTIME) st.st_mtim = attr->st_mtim;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) st.st_mtim = ts;
  st.st_ctim = (to_set & FUSE_SET_ATTR_CTIME) ? attr->st_ctim : ts;
  fuse_reply_attr(req, &st, kCacheTimeout_s);
}

// Shared by mkdir and create: a new name in `parent`, or the errno that forbids it.
int add_child(Fs& fs, fuse_ino_t parent, const char* name, mode_t mode, fuse_req_t req,
              Node** created) {
  Node* dir = find(fs, parent);
  if (!dir || !S_ISDIR(dir->attr.st_mode)) return ENOENT;
  if (dir->children.count(name)) return EEXIST;
  // unordered_map keeps references stable across rehash, so `dir` survives the insertion.
  Node& node = make_node(fs, fs.ino_next++, mode, fuse_req_ctx(req));
  dir->children.emplace(name, node.attr.st_ino);
  if (S_ISDIR(mode)) ++dir->attr.st_nlink;
  dir->attr.st_mtim = dir->attr.st_ctim = node.attr.st_ctim;
  *created = &node;
  return 0;
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Node* node = nullptr;
  if (int err = add_child(fs_of(req), parent, name, S_IFDIR | (mode & 07777), req, &node)) {
    return (void)fuse_reply_err(req, err);
  }
  reply_entry(req, *node);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  Node* node = nullptr;
  if (int err = add_child(fs_of(req), parent, name, S_IFREG | (mode & 07777), req, &node)) {
    return (void)fuse_reply_err(req, err);
  }
  const fuse_entry_param entry = entry_of(*node);
  fuse_reply_create(req, &entry, fi);
}

// Shared by unlink and rmdir.
void remove_child(fuse_req_t req, fuse_ino_t parent, const char* name, bool want_dir) {
  Fs& fs = fs_of(req);
  Node* dir = find(fs, parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return (void)fuse_reply_err(req, ENOENT);
  const fuse_ino_t ino = it->second;
  Node& node = fs.nodes.at(ino);
  const bool is_dir = S_ISDIR(node.attr.st_mode);
  if (want_dir && !is_dir) return (void)fuse_reply_err(req, ENOTDIR);
  if (!want_dir && is_dir) return (void)fuse_reply_err(req, EISDIR);
  if (is_dir && !node.children.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  dir->children.erase(it);
  if (is_dir) --dir->attr.st_nlink;
  dir->attr.st_mtim = dir->attr.st_ctim = node.attr.st_ctim = now();
  node.attr.st_nlink = 0;
  maybe_free(fs, ino);
  fuse_reply_err(req, 0);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove_child(req, parent, name, false);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  remove_child(req, parent, name, true);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node* node = find(fs_of(req), ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  // With FUSE_CAP_ATOMIC_O_TRUNC the truncation arrives here instead of as a separate SETATTR.
  if (fi->flags & O_TRUNC) {
    node->data.clear();
    node->attr.st_size = 0;
    node->attr.st_mtim = node->attr.st_ctim = now();
  }
  fi->keep_cache = (fi->flags & O_ACCMODE) == O_RDONLY;
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  Node* node = find(fs_of(req), ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  const std::string& data = node->data;
  if (off >= static_cast<off_t>(data.size())) return (void)fuse_reply_buf(req, nullptr, 0);
  fuse_reply_buf(req, data.data() + off, std::min(size, data.size() - off));
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info*) {
  Node* node = find(fs_of(req), ino);
  if (!node) return (void)fuse_reply_err(req, ENOENT);
  if (node->data.size() < off + size) node->data.resize(off + size);
  std::memcpy(node->data.data() + off, buf, size);
  node->attr.st_size = node->data.size();
  node->attr.st_mtim = node->attr.st_ctim = now();
  fuse_reply_write(req, size);
}

void op_reply_ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

// The listing is a snapshot taken at opendir, so entries added or removed while a reader walks the
// directory neither repeat nor shift its offsets.
struct Listing {
  std::vector<std::pair<std::string, struct stat>> entries;
};

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Fs& fs = fs_of(req);
  Node* dir = find(fs, ino);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (!S_ISDIR(dir->attr.st_mode)) return (void)fuse_reply_err(req, ENOTDIR);
  auto listing = std::make_unique<Listing>();
  listing->entries.emplace_back(".", dir->attr);
  listing->entries.emplace_back("..", dir->attr);  // the kernel fills in the real parent
  for (const auto& [name, child] : dir->children) {
    listing->entries.emplace_back(name, fs.nodes.at(child).attr);
  }
  fi->fh = reinterpret_cast<uint64_t>(listing.release());
  fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  const auto& entries = reinterpret_cast<Listing*>(fi->fh)->entries;
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = off; i < entries.size(); ++i) {
    const size_t need = fuse_add_direntry(req, buf.data() + used, size - used,
                                          entries[i].first.c_str(), &entries[i].second, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete reinterpret_cast<Listing*>(fi->fh);
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st {};
  st.f_bsize = st.f_frsize = 4096;
  st.f_blocks = st.f_bfree = st.f_bavail = 1u << 20;
  st.f_files = st.f_ffree = st.f_favail = 1u << 20;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void op_init(void*, fuse_conn_info* conn) {
  // One round trip fewer for open(O_TRUNC); a cheap trick the product can use too.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.mkdir = op_mkdir;
  ops.rmdir = op_rmdir;
  ops.create = op_create;
  ops.unlink = op_unlink;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_reply_ok;
  ops.release = op_reply_ok;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.statfs = op_statfs;
  return ops;
}

}  // namespace

int main(int argc, char* argv[]) {
  fuse_args args = FUSE_ARGS_INIT(argc, argv);
  fuse_cmdline_opts opts{};
  if (fuse_parse_cmdline(&args, &opts) != 0) return 1;
  if (opts.show_help || opts.show_version || !opts.mountpoint) {
    std::fprintf(stderr, "usage: %s [-f] MOUNTPOINT\n", argv[0]);
    return opts.show_help || opts.show_version ? 0 : 1;
  }
  fuse_opt_add_arg(&args, "-oallow_other,auto_unmount,default_permissions,fsname=memfs_floor");

  Fs fs;
  make_node(fs, FUSE_ROOT_ID, S_IFDIR | 0755, nullptr).lookups = 1;  // the root is never forgotten

  const fuse_lowlevel_ops ops = make_ops();
  int status = 1;
  fuse_session* session = fuse_session_new(&args, &ops, sizeof(ops), &fs);
  if (session) {
    // A shell starts background jobs with SIGINT ignored, and libfuse only hooks signals left at
    // their default; reset them so `memfs_floor ... &` still stops on Ctrl-C/kill -INT.
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (fuse_set_signal_handlers(session) == 0) {
      if (fuse_session_mount(session, opts.mountpoint) == 0) {
        fuse_daemonize(opts.foreground);
        // A positive result is the signal that ended the loop: a requested, clean stop.
        status = fuse_session_loop(session) < 0 ? 1 : 0;
        fuse_session_unmount(session);
      }
      fuse_remove_signal_handlers(session);
    }
    fuse_session_destroy(session);
  }
  std::free(opts.mountpoint);
  fuse_opt_free_args(&args);
  return status;
}
