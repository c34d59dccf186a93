/* cclient_capture: the cclient_basic.txt session, ZooKeeper 3.8's C client (libzookeeper_mt)
 * through record.py. Not part of the build: make-captures.sh compiles it by hand,
 *   gcc -DTHREADED -o cclient_capture cclient_capture.c -lzookeeper_mt
 *   ./cclient_capture HOST:PORT
 * It prints each call's result. The 3.8 C client has no getEphemerals, getAllChildrenNumber nor
 * addWatch (the Java client and zkCli.sh do: zkcli.txt has them). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

static volatile int connected;

static void on_event(zhandle_t *zh, int type, int state, const char *path, void *context) {
  (void)zh, (void)context;
  if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) connected = 1;
  if (type != ZOO_SESSION_EVENT) printf("watch event type %d on %s\n", type, path);
}

static void report(const char *what, int rc) { printf("%s: %s\n", what, zerror(rc)); }

static void on_auth(int rc, const void *data) { report((const char *)data, rc); }

static void multi(zhandle_t *zh, int check_version) {
  zoo_op_t ops[4];
  zoo_op_result_t results[4];
  char created[64];
  zoo_create_op_init(&ops[0], "/cc/t1", "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, created,
                     sizeof(created));
  zoo_check_op_init(&ops[1], "/cc", check_version);
  zoo_set_op_init(&ops[2], "/cc/t1", "y", 1, -1, NULL);
  zoo_delete_op_init(&ops[3], "/cc/t1", -1);
  report(check_version == 1 ? "multi" : "multi, failing check", zoo_multi(zh, 4, ops, results));
}

int main(int argc, char **argv) {
  char path[128], buffer[64];
  int length = sizeof(buffer);
  struct Stat stat;
  struct String_vector children;
  struct ACL_vector acl;
  if (argc != 2) {
    fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
    return 2;
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zhandle_t *zh = zookeeper_init(argv[1], on_event, 4000, NULL, NULL, 0);
  for (int i = 0; zh != NULL && !connected && i < 100; ++i) usleep(100000);
  if (!connected) return 1;
  report("create /cc", zoo_create(zh, "/cc", "root", 4, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0));
  report("create ephemeral sequential",
         zoo_create(zh, "/cc/es-", "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, path,
                    sizeof(path)));
  printf("  created %s\n", path);
  report("get, watch", zoo_get(zh, "/cc", 1, buffer, &length, &stat));
  report("set version 0", zoo_set(zh, "/cc", "v2", 2, 0));  /* fires the get's watch */
  report("getChildren2, watch", zoo_get_children2(zh, "/cc", 1, &children, &stat));
  deallocate_String_vector(&children);
  report("exists present", zoo_exists(zh, "/cc", 0, &stat));
  report("exists missing, watch", zoo_exists(zh, "/cc/missing", 1, &stat));
  report("delete", zoo_delete(zh, path, -1));  /* fires the children watch */
  multi(zh, 1);
  multi(zh, 7);
  report("add_auth digest", zoo_add_auth(zh, "digest", "user:pass", 9, on_auth, "add_auth reply"));
  sleep(1);
  report("get_acl", zoo_get_acl(zh, "/cc", &acl, &stat));
  deallocate_ACL_vector(&acl);
  sleep(3);  /* idle: pings every session timeout / 3 */
  report("close", zookeeper_close(zh));
  return 0;
}
