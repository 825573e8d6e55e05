// kindling-jailer: starts one Kindling sandbox (Lambda's Firecracker jailer, with
// Linux namespaces instead of a micro-VM). Linux only; run as root.
//
//   kindling-jailer [options] -- PROGRAM ARGS...
//
// Three processes:
//   P0 (this program, in the host's namespaces): creates the sandbox's cgroups and
//      joins them, clones P1 into new pid/mount/net/ipc/uts namespaces, creates the
//      veth pair when networking is on, then waits and exits exactly as the
//      program did (same exit code, or killed by the same signal). Dies with its
//      parent (PR_SET_PDEATHSIG); then it kills the sandbox and removes its cgroups.
//   P1 (pid 1 of the new pid namespace): builds the root filesystem on a tmpfs,
//      pivot_root()s into it, brings up the network, forks P2, reaps orphans, and
//      reports P2's wait status to P0 over a pipe. When P1 ends the kernel kills
//      everything left in the namespace.
//   P2: drops to the sandbox user with no capabilities, no_new_privs, RLIMIT_NOFILE,
//      a seccomp filter, fds 0-3 only (fd 3 = the host-guest stream), and execs PROGRAM.
//
// With --control-fd N (a pooled, generic sandbox started before its function is known)
// there is no --task: /var/task and /opt stay empty mount points, and P0 forks a helper
// (in the host's namespaces, root, outside the sandbox's pid namespace) that waits on
// fd N for one request, "task DIR\n[opt DIR]\n\n", and mounts those folders read-only
// into the running sandbox without copying them: open_tree() clones each on the host,
// setns() enters the sandbox's mount namespace, move_mount() puts them in place. It
// answers "ok\n" or "error ...\n" and exits.
//
// Every step is a system call: no helper programs on the hot path.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/veth.h>
#include <arpa/inet.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp.h"

#define MAX_BINDS 16

struct bind {
  const char *src;
  const char *dst;
  int rw;
};

static struct {
  const char *id;
  const char *jail_dir;
  const char *task;
  const char *runtime;
  struct bind binds[MAX_BINDS];
  int nbinds;
  long memory_mb;
  long pids_max;
  long cpu_period_us;
  long cpu_quota_us;
  long cpu_shares;
  long tmp_mb;
  long nofile;
  uid_t uid;
  gid_t gid;
  const char *hostname;
  int net_veth;
  const char *veth_host;
  const char *host_ip;
  const char *guest_ip;
  int no_cgroup;
  int control_fd;
  char **argv;
} cfg = {
    .jail_dir = "/run/kindling/jail",
    .memory_mb = 128,
    .pids_max = 1024,
    .cpu_period_us = 100000,
    .cpu_quota_us = -1,
    .cpu_shares = 1024,
    .tmp_mb = 512,
    .nofile = 1024,
    .uid = 993,
    .gid = 993,
    .hostname = "localhost",
    .control_fd = -1,
};

static void die(const char *what) {
  dprintf(2, "kindling-jailer: %s: %s\n", what, strerror(errno));
  _exit(125);
}

static void dief(const char *what, const char *arg) {
  dprintf(2, "kindling-jailer: %s %s: %s\n", what, arg, strerror(errno));
  _exit(125);
}

// ---------------------------------------------------------------- cgroups

static int cgroup_v2;
static char cg_paths[4][256];
static int n_cg;

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  return n < 0 ? -1 : 0;
}

static void cg_write(const char *dir, const char *file, const char *value, int required) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  if (write_file(path, value) < 0 && required) dief("cannot write", path);
}

static void cg_mkdir(const char *path) {
  if (mkdir(path, 0755) < 0 && errno != EEXIST) dief("cannot create cgroup", path);
}

static void setup_cgroups(void) {
  char v[64];
  struct stat st;
  cgroup_v2 = stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0;
  char pid[32];
  snprintf(pid, sizeof pid, "%d", getpid());
  if (cgroup_v2) {
    cg_mkdir("/sys/fs/cgroup/kindling");
    write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids +cpu");
    write_file("/sys/fs/cgroup/kindling/cgroup.subtree_control", "+memory +pids +cpu");
    char *dir = cg_paths[n_cg++];
    snprintf(dir, 256, "/sys/fs/cgroup/kindling/%s", cfg.id);
    cg_mkdir(dir);
    snprintf(v, sizeof v, "%ld", cfg.memory_mb * 1024 * 1024);
    cg_write(dir, "memory.max", v, 1);
    cg_write(dir, "memory.swap.max", "0", 0);
    snprintf(v, sizeof v, "%ld", cfg.pids_max);
    cg_write(dir, "pids.max", v, 1);
    if (cfg.cpu_quota_us > 0) {
      snprintf(v, sizeof v, "%ld %ld", cfg.cpu_quota_us, cfg.cpu_period_us);
      cg_write(dir, "cpu.max", v, 0);
    }
    // cpu.weight is 1..10000 (default 100) where v1's shares are 2..262144 (default 1024).
    long w = cfg.cpu_shares * 100 / 1024;
    snprintf(v, sizeof v, "%ld", w < 1 ? 1 : w > 10000 ? 10000 : w);
    cg_write(dir, "cpu.weight", v, 0);
    cg_write(dir, "cgroup.procs", pid, 1);
    return;
  }
  static const char *ctrls[] = {"memory", "pids", "cpu"};
  for (int i = 0; i < 3; i++) {
    char base[128];
    snprintf(base, sizeof base, "/sys/fs/cgroup/%s", ctrls[i]);
    if (stat(base, &st) < 0) {
      if (i < 2) dief("no cgroup hierarchy at", base);
      continue;
    }
    char parent[192];
    snprintf(parent, sizeof parent, "%s/kindling", base);
    cg_mkdir(parent);
    char *dir = cg_paths[n_cg++];
    snprintf(dir, 256, "%s/%s", parent, cfg.id);
    cg_mkdir(dir);
    if (i == 0) {
      snprintf(v, sizeof v, "%ld", cfg.memory_mb * 1024 * 1024);
      cg_write(dir, "memory.limit_in_bytes", v, 1);
      cg_write(dir, "memory.memsw.limit_in_bytes", v, 0);
      cg_write(dir, "memory.swappiness", "0", 0);
    } else if (i == 1) {
      snprintf(v, sizeof v, "%ld", cfg.pids_max);
      cg_write(dir, "pids.max", v, 1);
    } else {
      snprintf(v, sizeof v, "%ld", cfg.cpu_period_us);
      cg_write(dir, "cpu.cfs_period_us", v, 0);
      if (cfg.cpu_quota_us > 0) {
        snprintf(v, sizeof v, "%ld", cfg.cpu_quota_us);
        cg_write(dir, "cpu.cfs_quota_us", v, 0);
      }
      snprintf(v, sizeof v, "%ld", cfg.cpu_shares < 2 ? 2 : cfg.cpu_shares);
      cg_write(dir, "cpu.shares", v, 0);
    }
    // "0" into tasks moves this (single-threaded) process without the global
    // threadgroup lock a cgroup.procs write takes (an RCU grace period, ~10 ms).
    cg_write(dir, "tasks", "0", 1);
  }
}

/** Moves this process back to the root cgroups and removes the sandbox's (after P1 is gone). */
static void remove_cgroups(void) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d", getpid());
  for (int i = 0; i < n_cg; i++) {
    char root[512];
    snprintf(root, sizeof root, "%s", cg_paths[i]);
    // The root of the hierarchy is two levels up (…/kindling/<id>).
    for (int up = 0; up < 2; up++) {
      char *slash = strrchr(root, '/');
      if (slash) *slash = 0;
    }
    char procs[300];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", root);
    write_file(procs, pid);
    for (int tries = 0; tries < 100 && rmdir(cg_paths[i]) < 0 && errno == EBUSY; tries++) usleep(10000);
  }
}

// ---------------------------------------------------------------- network

static void ifreq_addr(struct ifreq *ifr, const char *ip) {
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr->ifr_addr;
  memset(sin, 0, sizeof *sin);
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) {
    errno = EINVAL;
    dief("bad address", ip);
  }
}

/** Brings an interface up, with an IPv4 address and netmask when given. */
static void if_up(const char *name, const char *ip, const char *mask) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ip) {
    ifreq_addr(&ifr, ip);
    if (ioctl(s, SIOCSIFADDR, &ifr) < 0) dief("SIOCSIFADDR", name);
    ifreq_addr(&ifr, mask);
    if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0) dief("SIOCSIFNETMASK", name);
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) dief("SIOCGIFFLAGS", name);
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) dief("SIOCSIFFLAGS", name);
  close(s);
}

static void default_route(const char *gateway) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
  gw->sin_family = AF_INET;
  inet_pton(AF_INET, gateway, &gw->sin_addr);
  ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
  ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  if (ioctl(s, SIOCADDRT, &rt) < 0) die("SIOCADDRT default route");
  close(s);
}

static struct rtattr *nl_attr(struct nlmsghdr *n, size_t max, int type, const void *data, size_t len) {
  size_t rtalen = RTA_LENGTH(len);
  if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rtalen) > max) {
    errno = E2BIG;
    die("netlink message");
  }
  struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = rtalen;
  if (len) memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rtalen);
  return rta;
}

static void nl_end(struct nlmsghdr *n, struct rtattr *nest) {
  nest->rta_len = (char *)n + NLMSG_ALIGN(n->nlmsg_len) - (char *)nest;
}

/** ip link add HOST type veth peer name eth0 netns PID (rtnetlink). */
static void create_veth(const char *host_name, pid_t peer_pid) {
  char buf[1024];
  memset(buf, 0, sizeof buf);
  struct nlmsghdr *n = (struct nlmsghdr *)buf;
  n->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  n->nlmsg_type = RTM_NEWLINK;
  n->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  n->nlmsg_seq = 1;
  nl_attr(n, sizeof buf, IFLA_IFNAME, host_name, strlen(host_name) + 1);
  struct rtattr *linkinfo = nl_attr(n, sizeof buf, IFLA_LINKINFO, NULL, 0);
  nl_attr(n, sizeof buf, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nl_attr(n, sizeof buf, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = nl_attr(n, sizeof buf, VETH_INFO_PEER, NULL, 0);
  n->nlmsg_len += sizeof(struct ifinfomsg); // the peer's ifinfomsg (zeroed)
  nl_attr(n, sizeof buf, IFLA_IFNAME, "eth0", 5);
  uint32_t pid = (uint32_t)peer_pid;
  nl_attr(n, sizeof buf, IFLA_NET_NS_PID, &pid, sizeof pid);
  nl_end(n, peer);
  nl_end(n, data);
  nl_end(n, linkinfo);

  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) die("netlink socket");
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(s, buf, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) die("netlink send");
  char reply[4096];
  ssize_t len = recv(s, reply, sizeof reply, 0);
  if (len < 0) die("netlink recv");
  struct nlmsghdr *r = (struct nlmsghdr *)reply;
  if (r->nlmsg_type == NLMSG_ERROR) {
    struct nlmsgerr *e = NLMSG_DATA(r);
    if (e->error != 0) {
      errno = -e->error;
      dief("cannot create veth", host_name);
    }
  }
  close(s);
}

// ---------------------------------------------------------------- root filesystem

static void xmkdir(const char *path, mode_t mode) {
  if (mkdir(path, mode) < 0 && errno != EEXIST) dief("mkdir", path);
}

static void mkdir_p(const char *path, mode_t mode) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      xmkdir(tmp, 0755);
      *p = '/';
    }
  }
  xmkdir(tmp, mode);
}

static void write_new(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) dief("create", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) dief("write", path);
  close(fd);
}

/** Bind-mounts src at dst (inside the new root), read-only unless rw; files and folders. */
static void bind_mount(const char *src, const char *dst, int rw, int optional) {
  struct stat st;
  if (stat(src, &st) < 0) {
    if (optional) return;
    dief("cannot bind", src);
  }
  if (S_ISDIR(st.st_mode)) {
    mkdir_p(dst, 0755);
  } else {
    char parent[512];
    snprintf(parent, sizeof parent, "%s", dst);
    char *slash = strrchr(parent, '/');
    if (slash) {
      *slash = 0;
      mkdir_p(parent, 0755);
    }
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) dief("create mount point", dst);
    close(fd);
  }
  if (mount(src, dst, NULL, MS_BIND, NULL) < 0) dief("bind", src);
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY);
  if (mount(NULL, dst, NULL, flags, NULL) < 0) dief("remount", dst);
}

/** /bin, /lib, ...: the same symlink as on the host (Debian's merged /usr), else a bind. */
static void link_or_bind(const char *root, const char *name) {
  char host[64], dst[512], target[256];
  snprintf(host, sizeof host, "/%s", name);
  snprintf(dst, sizeof dst, "%s/%s", root, name);
  ssize_t n = readlink(host, target, sizeof target - 1);
  if (n > 0) {
    target[n] = 0;
    if (symlink(target, dst) < 0) dief("symlink", dst);
    return;
  }
  bind_mount(host, dst, 0, 1);
}

static void make_dev(const char *root, const char *name, mode_t mode, unsigned maj, unsigned min) {
  char path[512];
  snprintf(path, sizeof path, "%s/dev/%s", root, name);
  if (mknod(path, S_IFCHR | mode, makedev(maj, min)) < 0) dief("mknod", path);
  chmod(path, mode); // not reduced by the umask
}

static void copy_host_file(const char *host, const char *dst, const char *fallback) {
  char buf[16384];
  int in = open(host, O_RDONLY | O_CLOEXEC);
  ssize_t n = in >= 0 ? read(in, buf, sizeof buf - 1) : -1;
  if (in >= 0) close(in);
  if (n < 0) {
    write_new(dst, fallback, 0644);
    return;
  }
  buf[n] = 0;
  write_new(dst, buf, 0644);
}

static void build_root(void) {
  const char *R = cfg.jail_dir;
  char p[512], text[1024];
  // Nothing we mount here propagates back to the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("make / private");
  mkdir_p(R, 0700);
  if (mount("kindling-root", R, "tmpfs", MS_NOSUID, "size=4m,nr_inodes=4096,mode=0755") < 0) die("mount root tmpfs");

  snprintf(p, sizeof p, "%s/usr", R);
  bind_mount("/usr", p, 0, 0);
  link_or_bind(R, "bin");
  link_or_bind(R, "sbin");
  link_or_bind(R, "lib");
  link_or_bind(R, "lib64");
  link_or_bind(R, "lib32");
  link_or_bind(R, "libx32");

  snprintf(p, sizeof p, "%s/etc", R);
  xmkdir(p, 0755);
  snprintf(p, sizeof p, "%s/etc/passwd", R);
  snprintf(text, sizeof text, "root:x:0:0:root:/root:/usr/sbin/nologin\nsbx_user1051:x:%u:%u::/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", cfg.uid, cfg.gid);
  write_new(p, text, 0644);
  snprintf(p, sizeof p, "%s/etc/group", R);
  snprintf(text, sizeof text, "root:x:0:\nsbx_user1051:x:%u:\nnogroup:x:65534:\n", cfg.gid);
  write_new(p, text, 0644);
  snprintf(p, sizeof p, "%s/etc/hosts", R);
  snprintf(text, sizeof text, "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", cfg.hostname);
  write_new(p, text, 0644);
  snprintf(p, sizeof p, "%s/etc/hostname", R);
  snprintf(text, sizeof text, "%s\n", cfg.hostname);
  write_new(p, text, 0644);
  snprintf(p, sizeof p, "%s/etc/nsswitch.conf", R);
  write_new(p, "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n", 0644);
  snprintf(p, sizeof p, "%s/etc/resolv.conf", R);
  if (cfg.net_veth) copy_host_file("/etc/resolv.conf", p, "");
  else write_new(p, "", 0644);
  snprintf(p, sizeof p, "%s/etc/ld.so.cache", R);
  bind_mount("/etc/ld.so.cache", p, 0, 1);
  snprintf(p, sizeof p, "%s/etc/ssl/certs", R);
  bind_mount("/etc/ssl/certs", p, 0, 1);
  snprintf(p, sizeof p, "%s/etc/ssl/openssl.cnf", R);
  bind_mount("/etc/ssl/openssl.cnf", p, 0, 1);
  snprintf(p, sizeof p, "%s/etc/ca-certificates.conf", R);
  bind_mount("/etc/ca-certificates.conf", p, 0, 1);
  snprintf(p, sizeof p, "%s/etc/localtime", R);
  symlink("/usr/share/zoneinfo/UTC", p);

  snprintf(p, sizeof p, "%s/var/task", R);
  if (cfg.task) bind_mount(cfg.task, p, 0, 0);
  else mkdir_p(p, 0755);
  snprintf(p, sizeof p, "%s/var/runtime", R);
  if (cfg.runtime) bind_mount(cfg.runtime, p, 0, 0);
  else mkdir_p(p, 0755);
  snprintf(p, sizeof p, "%s/opt", R);
  xmkdir(p, 0755);
  for (int i = 0; i < cfg.nbinds; i++) {
    snprintf(p, sizeof p, "%s%s", R, cfg.binds[i].dst);
    bind_mount(cfg.binds[i].src, p, cfg.binds[i].rw, 0);
  }

  // /tmp: the function's only writable folder, capped at its ephemeral storage.
  snprintf(p, sizeof p, "%s/tmp", R);
  xmkdir(p, 01777);
  snprintf(text, sizeof text, "size=%ldm,mode=0700,uid=%u,gid=%u", cfg.tmp_mb, cfg.uid, cfg.gid);
  if (mount("kindling-tmp", p, "tmpfs", MS_NOSUID | MS_NODEV, text) < 0) die("mount /tmp");

  // /dev: the few devices a runtime opens, on a tmpfs of its own.
  snprintf(p, sizeof p, "%s/dev", R);
  xmkdir(p, 0755);
  if (mount("kindling-dev", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") < 0) die("mount /dev");
  make_dev(R, "null", 0666, 1, 3);
  make_dev(R, "zero", 0666, 1, 5);
  make_dev(R, "full", 0666, 1, 7);
  make_dev(R, "random", 0666, 1, 8);
  make_dev(R, "urandom", 0666, 1, 9);
  static const char *fds[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s/dev/%s", R, fds[i][0]);
    symlink(fds[i][1], p);
  }
  snprintf(p, sizeof p, "%s/dev", R);
  if (mount(NULL, p, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755") < 0) die("remount /dev");

  snprintf(p, sizeof p, "%s/proc", R);
  xmkdir(p, 0555);
  // This process is pid 1 of the new pid namespace: this /proc shows only the sandbox.
  if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) die("mount /proc");

  // Into the new root; the host's tree is detached and gone from this namespace.
  if (chdir(R) < 0) die("chdir root");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) die("detach the old root");
  if (chdir("/") < 0) die("chdir /");
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID, "size=4m,nr_inodes=4096,mode=0755") < 0) die("remount / read-only");
}

// ---------------------------------------------------------------- privileges

static void install_seccomp(void) {
  if (kindling_seccomp() < 0) die("seccomp");
}

static void drop_privileges(void) {
  if (setgroups(0, NULL) < 0) die("setgroups");
  if (setresgid(cfg.gid, cfg.gid, cfg.gid) < 0) die("setresgid");
  // The bounding set while we still may (CAP_SETPCAP), then the uid, then what is left.
  for (int cap = 0; cap <= 63; cap++) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL) break;
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (setresuid(cfg.uid, cfg.uid, cfg.uid) < 0) die("setresuid");
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
  struct rlimit nofile = {(rlim_t)cfg.nofile, (rlim_t)cfg.nofile};
  if (setrlimit(RLIMIT_NOFILE, &nofile) < 0) die("RLIMIT_NOFILE");
}

/** Keeps fds 0-3 (3 = the host-guest stream), open across exec; closes every other. */
static void keep_stdio_fds(void) {
  for (int fd = 0; fd <= 3; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 4, ~0U, 0) == 0) return;
#endif
  for (int fd = 4; fd < 65536; fd++) close(fd);
}

// ---------------------------------------------------------------- P1 and P2

static int sync_pipe[2];   // P0 -> P1: network ready
static int status_pipe[2]; // P1 -> P0: P2's wait status
static int root_pipe[2] = {-1, -1}; // P1 -> the attach helper: the root is built

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
}

static int sandbox_init(void *arg) {
  (void)arg;
  // Dies with P0 (its parent in the host's namespaces), and the namespace with it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // (getppid() is 0 in a new pid namespace; P0's death shows as EOF on the sync pipe.)
  close(sync_pipe[1]);
  close(status_pipe[0]);
  // The control channel is the host's and the attach helper's, never the sandbox's.
  if (cfg.control_fd >= 0) close(cfg.control_fd);
  if (root_pipe[0] >= 0) close(root_pipe[0]);
  char ok;
  if (read(sync_pipe[0], &ok, 1) != 1) _exit(125); // P0 failed
  close(sync_pipe[0]);

  if (sethostname(cfg.hostname, strlen(cfg.hostname)) < 0) die("sethostname");
  build_root();
  if_up("lo", NULL, NULL);
  if (cfg.net_veth) {
    if_up("eth0", cfg.guest_ip, "255.255.255.254");
    default_route(cfg.host_ip);
  }
  if (root_pipe[1] >= 0) {
    (void)!write(root_pipe[1], "1", 1);
    close(root_pipe[1]);
  }

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    close(status_pipe[1]);
    reset_signals();
    keep_stdio_fds();
    drop_privileges();
    install_seccomp();
    execve(cfg.argv[0], cfg.argv, environ);
    dief("cannot start", cfg.argv[0]);
  }
  // pid 1: nothing of the host's stream stays open here, only the status pipe.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 3; fd++) {
    if (devnull >= 0) dup2(devnull, fd);
    else close(fd);
  }
  if (devnull > 3) close(devnull);
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p == child || p < 0) {
      if (p < 0) st = SIGKILL; // cannot happen: report a kill
      (void)!write(status_pipe[1], &st, sizeof st);
      _exit(0); // the kernel now kills what is left in the namespace
    }
    // an orphan reaped
  }
}

// ---------------------------------------------------------------- attach (pooled sandboxes)

static void attach_reply(const char *text, const char *arg) {
  char buf[1024];
  int n = arg ? snprintf(buf, sizeof buf, "%s %s: %s\n", text, arg, strerror(errno)) : snprintf(buf, sizeof buf, "%s\n", text);
  (void)!write(cfg.control_fd, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

/** A read-only, private clone of a host folder, not yet attached anywhere (-1 on error). */
static int clone_tree(const char *src) {
  int fd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) return -1;
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, .propagation = MS_PRIVATE};
  if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/** The attach helper (see the top): one request, then exit. Never returns. */
static void attach_helper(pid_t init) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  reset_signals();
  close(status_pipe[0]);
  // Pinned now, while P1 surely lives: the namespace cannot be another's later.
  char ns_path[64];
  snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/mnt", (int)init);
  int ns = open(ns_path, O_RDONLY | O_CLOEXEC);
  char ok;
  int built = read(root_pipe[0], &ok, 1) == 1;
  close(root_pipe[0]);

  char req[8192];
  size_t len = 0;
  for (;;) {
    if (len >= 2 && req[len - 1] == '\n' && req[len - 2] == '\n') break;
    if (len == sizeof req - 1) _exit(1);
    ssize_t n = read(cfg.control_fd, req + len, sizeof req - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(0); // the host went away
    len += (size_t)n;
  }
  req[len] = 0;
  if (ns < 0) {
    attach_reply("error cannot open", ns_path);
    _exit(1);
  }
  if (!built) {
    attach_reply("error the sandbox ended before its root was built", NULL);
    _exit(1);
  }
  const char *task = NULL, *opt = NULL;
  for (char *line = req, *next; *line && *line != '\n'; line = next) {
    char *nl = strchr(line, '\n');
    *nl = 0;
    next = nl + 1;
    if (strncmp(line, "task /", 6) == 0) task = line + 5;
    else if (strncmp(line, "opt /", 5) == 0) opt = line + 4;
    else {
      attach_reply("error bad request", NULL);
      _exit(1);
    }
  }
  if (!task) {
    attach_reply("error no task folder", NULL);
    _exit(1);
  }
  // Cloned in the host's namespace, where the folders are; attached in the sandbox's.
  int tfd = clone_tree(task);
  if (tfd < 0) {
    attach_reply("error cannot clone", task);
    _exit(1);
  }
  int ofd = -1;
  if (opt && (ofd = clone_tree(opt)) < 0) {
    attach_reply("error cannot clone", opt);
    _exit(1);
  }
  if (setns(ns, CLONE_NEWNS) < 0) {
    attach_reply("error cannot enter the sandbox's mount namespace", ns_path);
    _exit(1);
  }
  if (chdir("/") < 0 || move_mount(tfd, "", AT_FDCWD, "/var/task", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    attach_reply("error cannot mount", "/var/task");
    _exit(1);
  }
  if (ofd >= 0 && move_mount(ofd, "", AT_FDCWD, "/opt", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    attach_reply("error cannot mount", "/opt");
    _exit(1);
  }
  attach_reply("ok", NULL);
  _exit(0);
}

static volatile sig_atomic_t parent_gone;
static void on_parent_gone(int sig) {
  (void)sig;
  parent_gone = 1;
}

static long num(const char *s, const char *name) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s) {
    dprintf(2, "kindling-jailer: --%s: not a number: %s\n", name, s);
    exit(125);
  }
  return v;
}

static int valid_name(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) return 0;
  return 1;
}

static void usage(void) {
  dprintf(2,
          "usage: kindling-jailer --id ID [--memory-mb N] [--pids-max N] [--cpu-period-us N] [--cpu-quota-us N]\n"
          "         [--cpu-shares N] [--tmp-mb N] [--nofile N] [--uid N] [--gid N] [--hostname NAME]\n"
          "         [--task DIR] [--runtime DIR] [--bind SRC:DST] [--bind-rw SRC:DST] [--jail-dir DIR]\n"
          "         [--veth HOSTIF:HOSTIP:GUESTIP] [--no-cgroup] [--control-fd N] -- PROGRAM ARGS...\n");
  exit(125);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"id", required_argument, 0, 'i'},        {"memory-mb", required_argument, 0, 'm'},
      {"pids-max", required_argument, 0, 'p'},  {"cpu-period-us", required_argument, 0, 'P'},
      {"cpu-quota-us", required_argument, 0, 'Q'}, {"cpu-shares", required_argument, 0, 'S'},
      {"tmp-mb", required_argument, 0, 't'},    {"nofile", required_argument, 0, 'n'},
      {"uid", required_argument, 0, 'u'},       {"gid", required_argument, 0, 'g'},
      {"hostname", required_argument, 0, 'h'},  {"task", required_argument, 0, 'T'},
      {"runtime", required_argument, 0, 'R'},   {"bind", required_argument, 0, 'b'},
      {"bind-rw", required_argument, 0, 'w'},   {"jail-dir", required_argument, 0, 'j'},
      {"veth", required_argument, 0, 'v'},      {"no-cgroup", no_argument, 0, 'C'},
      {"control-fd", required_argument, 0, 'c'},
      {0, 0, 0, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
    switch (c) {
    case 'i': cfg.id = optarg; break;
    case 'm': cfg.memory_mb = num(optarg, "memory-mb"); break;
    case 'p': cfg.pids_max = num(optarg, "pids-max"); break;
    case 'P': cfg.cpu_period_us = num(optarg, "cpu-period-us"); break;
    case 'Q': cfg.cpu_quota_us = num(optarg, "cpu-quota-us"); break;
    case 'S': cfg.cpu_shares = num(optarg, "cpu-shares"); break;
    case 't': cfg.tmp_mb = num(optarg, "tmp-mb"); break;
    case 'n': cfg.nofile = num(optarg, "nofile"); break;
    case 'u': cfg.uid = (uid_t)num(optarg, "uid"); break;
    case 'g': cfg.gid = (gid_t)num(optarg, "gid"); break;
    case 'h': cfg.hostname = optarg; break;
    case 'T': cfg.task = optarg; break;
    case 'R': cfg.runtime = optarg; break;
    case 'j': cfg.jail_dir = optarg; break;
    case 'C': cfg.no_cgroup = 1; break;
    case 'c': cfg.control_fd = (int)num(optarg, "control-fd"); break;
    case 'b':
    case 'w': {
      char *colon = strchr(optarg, ':');
      if (!colon || colon[1] != '/' || cfg.nbinds == MAX_BINDS) usage();
      *colon = 0;
      cfg.binds[cfg.nbinds++] = (struct bind){optarg, colon + 1, c == 'w'};
      break;
    }
    case 'v': {
      char *a = strchr(optarg, ':');
      char *b = a ? strchr(a + 1, ':') : NULL;
      if (!a || !b) usage();
      *a = 0;
      *b = 0;
      cfg.veth_host = optarg;
      cfg.host_ip = a + 1;
      cfg.guest_ip = b + 1;
      cfg.net_veth = 1;
      break;
    }
    default: usage();
    }
  }
  if (optind >= argc || !cfg.id || !valid_name(cfg.id, 64)) usage();
  // A pooled sandbox gets its code from the attach helper, never at launch.
  if (cfg.control_fd >= 0 && (cfg.control_fd <= 3 || cfg.task)) usage();
  if (cfg.net_veth && !valid_name(cfg.veth_host, IFNAMSIZ - 1)) usage();
  cfg.argv = argv + optind;
  if (cfg.argv[0][0] != '/') {
    dprintf(2, "kindling-jailer: PROGRAM must be an absolute path\n");
    return 125;
  }

  // If the host (our parent) dies, so does the sandbox, and its cgroups go.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_parent_gone;
  sigaction(SIGHUP, &sa, NULL); // no SA_RESTART: waitpid returns EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  pid_t host = getppid();
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  if (getppid() != host) return 125;
  struct rlimit nocore = {0, 0};
  setrlimit(RLIMIT_CORE, &nocore);

  if (!cfg.no_cgroup) setup_cgroups();
  if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(status_pipe, O_CLOEXEC) < 0) die("pipe");
  if (cfg.control_fd >= 0) {
    if (fcntl(cfg.control_fd, F_SETFD, FD_CLOEXEC) < 0) die("control fd");
    if (pipe2(root_pipe, O_CLOEXEC) < 0) die("pipe");
  }

  size_t stack_size = 256 * 1024;
  char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) die("mmap stack");
  int flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
  pid_t init = clone(sandbox_init, stack + stack_size, flags, NULL);
  if (init < 0) {
    if (!cfg.no_cgroup) remove_cgroups();
    die("clone");
  }
  close(sync_pipe[0]);
  close(status_pipe[1]);
  if (cfg.control_fd >= 0) {
    close(root_pipe[1]);
    pid_t helper = fork();
    if (helper < 0) die("fork");
    if (helper == 0) attach_helper(init);
    close(cfg.control_fd);
    close(root_pipe[0]);
  }
  if (cfg.net_veth) {
    create_veth(cfg.veth_host, init);
    if_up(cfg.veth_host, cfg.host_ip, "255.255.255.254");
  }
  if (write(sync_pipe[1], "1", 1) != 1) die("sync");
  close(sync_pipe[1]);

  int st = 0;
  for (;;) {
    // Any child: the attach helper is reaped here too.
    int any;
    pid_t p = waitpid(-1, &any, 0);
    if (p == init) {
      st = any;
      break;
    }
    if (p > 0) continue;
    if (p < 0 && errno == EINTR) {
      if (parent_gone) kill(init, SIGKILL);
      continue;
    }
    die("waitpid");
  }
  if (parent_gone && !cfg.no_cgroup) remove_cgroups();

  int agent = 0;
  ssize_t got = read(status_pipe[0], &agent, sizeof agent);
  if (got != sizeof agent) {
    // P1 died without a word: killed (SIGKILL from the OOM killer, or a failed setup).
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) return WEXITSTATUS(st);
    agent = SIGKILL; // a wait status meaning "killed by SIGKILL"
  }
  if (WIFSIGNALED(agent)) {
    int sig = WTERMSIG(agent);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    // a signal whose default is to be ignored: fall back to 128+n like a shell
    return 128 + sig;
  }
  return WIFEXITED(agent) ? WEXITSTATUS(agent) : 125;
}
