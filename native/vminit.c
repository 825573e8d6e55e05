/*
 * kindling-vminit: PID 1 of a Kindling micro-VM (the `microvm` sandbox driver).
 * The kernel passes it the words after "--" on its command line: Node.js flags.
 *
 * It mounts what the guest needs (/proc, /sys, a /tmp tmpfs, tmpfs folders for
 * the code at /var/task and the layers at /opt), brings loopback up, and starts
 * the guest agent (node /var/runtime/agent.js) with
 *   fd 3 = one end of a socketpair whose other end it pumps to and from the
 *          virtio-serial port named "kindling" (Node cannot use the port itself:
 *          libuv sees a character device as a file, and the agent needs a real
 *          stream it can unref);
 *   fd 4 = the control channel, one line per request, answered "ok" or "error ...":
 *          "prepare JUMP_MS SEED_HEX TMP_MB": after a snapshot restore, mixes the
 *            host's randomness into the kernel's pool and reseeds it (every restore
 *            would otherwise share one random state), sets the clock to JUMP_MS
 *            (far ahead, so OpenSSL reseeds too), sizes /tmp and makes /var/task
 *            and /opt read-only;
 *          "clock TIME_MS": the host's time; the last request, the channel closes.
 *        Init does this itself, as root, so the agent needs no fork and exec (slow
 *        under software emulation) and the function, once the agent has dropped
 *        its privileges, has no way back to it. The agent runs under the same
 *        seccomp filter as in namespace sandboxes (seccomp.h).
 * When the agent exits it prints one line on the console for the host and
 * powers off.
 *
 * Static, so the guest needs no libc of its own for it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp.h"

#define PORT_NAME "kindling"
#define AGENT "/var/runtime/agent.js"
#define NODE "/usr/bin/node"
#define MAX_NODE_FLAGS 32

static void say(const char *fmt, const char *arg) {
  fprintf(stderr, "kindling-vminit: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
}

static void power_off(void) {
  sync();
  reboot(RB_POWER_OFF);
  _exit(1);
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  mkdir(dst, 0755);
  if (mount(src, dst, type, flags, data) != 0 && errno != EBUSY) {
    say("cannot mount %s", dst);
    power_off();
  }
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
}

/* /dev/vportNpM of the port whose name is PORT_NAME. */
static int open_port(void) {
  for (int attempt = 0; attempt < 2000; attempt++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[512], name[64] = {0};
        snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
        int f = open(path, O_RDONLY | O_CLOEXEC);
        if (f < 0) continue;
        ssize_t n = read(f, name, sizeof name - 1);
        close(f);
        if (n > 0 && name[n - 1] == '\n') name[n - 1] = 0;
        if (strcmp(name, PORT_NAME) != 0) continue;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
          closedir(d);
          return fd;
        }
      }
      closedir(d);
    }
    usleep(5000);
  }
  say("no virtio-serial port named %s", PORT_NAME);
  power_off();
  return -1;
}

/* Writes all of buf; false when the other side is gone. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 100);
        continue;
      }
      return 0;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 1;
}

static const char *set_clock(const char *ms_text) {
  long long ms = atoll(ms_text);
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  return clock_settime(CLOCK_REALTIME, &ts) == 0 ? NULL : "clock_settime failed";
}

static const char *prepare(const char *jump_ms, const char *hex, const char *tmp_mb) {
  const char *err = set_clock(jump_ms);
  if (err) return err;
  size_t bytes = strlen(hex) / 2;
  if (bytes == 0 || bytes > 512) return "seed must be 1 to 512 bytes";
  struct {
    struct rand_pool_info info;
    unsigned char buf[512];
  } seed;
  for (size_t i = 0; i < bytes; i++) {
    unsigned int b;
    if (sscanf(hex + 2 * i, "%2x", &b) != 1) return "seed is not hex";
    seed.buf[i] = (unsigned char)b;
  }
  seed.info.entropy_count = (int)(bytes * 8);
  seed.info.buf_size = (int)bytes;
  int r = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  if (r < 0) return "cannot open /dev/urandom";
  int ok = ioctl(r, RNDADDENTROPY, &seed.info) == 0 && ioctl(r, RNDRESEEDCRNG) == 0;
  close(r);
  if (!ok) return "cannot reseed the kernel's random pool";

  char opts[64];
  snprintf(opts, sizeof opts, "size=%sm,mode=1777", tmp_mb);
  if (mount("tmpfs", "/tmp", "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0) return "cannot size /tmp";
  /* The code and the layers arrived over the stream: from now on they are read-only. */
  const char *ro[] = {"/var/task", "/opt"};
  for (int i = 0; i < 2; i++)
    if (mount(NULL, ro[i], NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) return "cannot make the code read-only";
  return NULL;
}

/* One control request (a line without its newline); returns whether the channel stays open. */
static int control(int ctl, char *line) {
  char *words[5] = {0};
  int n = 0;
  for (char *save = NULL, *w = strtok_r(line, " ", &save); w && n < 5; w = strtok_r(NULL, " ", &save)) words[n++] = w;
  const char *err = "unknown request";
  int more = 1;
  if (n == 4 && strcmp(words[0], "prepare") == 0) err = prepare(words[1], words[2], words[3]);
  else if (n == 2 && strcmp(words[0], "clock") == 0) {
    err = set_clock(words[1]);
    more = 0;
  }
  char reply[128];
  snprintf(reply, sizeof reply, err ? "error %s\n" : "ok\n", err);
  write_all(ctl, reply, strlen(reply));
  return more;
}

int main(int argc, char **argv) {
  if (getpid() != 1) {
    fprintf(stderr, "kindling-vminit: runs as a micro-VM's init\n");
    return 2;
  }

  must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777");
  must_mount("tmpfs", "/var/task", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  must_mount("tmpfs", "/opt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  loopback_up();
  sethostname("localhost", 9);

  int port = open_port();
  int sv[2], cv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) power_off();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) != 0) power_off();

  pid_t agent = fork();
  if (agent < 0) power_off();
  if (agent == 0) {
    char *args[MAX_NODE_FLAGS + 3];
    int n = 0;
    args[n++] = NODE;
    for (int i = 1; i < argc && n < MAX_NODE_FLAGS + 1; i++) args[n++] = argv[i];
    args[n++] = AGENT;
    args[n] = NULL;
    char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8", "KINDLING_VM=1", NULL};
    setsid();
    if (dup2(sv[1], 3) != 3 || dup2(cv[1], 4) != 4) _exit(127);
    /* As in namespace sandboxes: 1024 open files and processes, no core dumps, no capabilities to gain. */
    struct rlimit nofile = {1024, 1024}, nproc = {1024, 1024}, nocore = {0, 0};
    setrlimit(RLIMIT_NOFILE, &nofile);
    setrlimit(RLIMIT_NPROC, &nproc);
    setrlimit(RLIMIT_CORE, &nocore);
    /* The agent keeps only what it needs to become the function's user (CAP_SETGID, CAP_SETUID);
       setuid() then clears those too. */
    for (int cap = 0; cap < 64; cap++)
      if (cap != 6 && cap != 7 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
    /* Kindling's seccomp filter, as in namespace sandboxes: init does the few privileged steps. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || kindling_seccomp() != 0) _exit(126);
    chdir("/");
    execve(NODE, args, env);
    _exit(127);
  }
  close(sv[1]);
  close(cv[1]);
  int guest = sv[0];
  int ctl = cv[0];
  char ctl_buf[1024];
  size_t ctl_len = 0;
  fcntl(guest, F_SETFL, O_NONBLOCK);

  int guest_open = 1, status = 0;
  char buf[65536];
  for (;;) {
    int w;
    pid_t p;
    while ((p = waitpid(-1, &w, WNOHANG)) > 0)
      if (p == agent) {
        status = w;
        agent = 0;
      }
    if (agent == 0 && !guest_open) break;

    struct pollfd fds[3] = {{.fd = port, .events = POLLIN}, {.fd = guest, .events = guest_open ? POLLIN : 0}, {.fd = ctl, .events = POLLIN}};
    int r = poll(fds, 3, 50);
    if (ctl >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(ctl, ctl_buf + ctl_len, sizeof ctl_buf - 1 - ctl_len);
      if (n == 0 || (n < 0 && errno != EINTR)) {
        close(ctl);
        ctl = -1;
      } else if (n > 0) {
        ctl_len += (size_t)n;
        char *nl;
        while (ctl >= 0 && (nl = memchr(ctl_buf, '\n', ctl_len)) != NULL) {
          *nl = 0;
          size_t used = (size_t)(nl - ctl_buf) + 1;
          if (!control(ctl, ctl_buf)) {
            close(ctl);
            ctl = -1;
          }
          memmove(ctl_buf, ctl_buf + used, ctl_len - used);
          ctl_len -= used;
        }
        if (ctl >= 0 && ctl_len == sizeof ctl_buf - 1) {
          close(ctl); /* a line that long is no request */
          ctl = -1;
        }
      }
    }
    if (r < 0 && errno != EINTR) break;
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(guest, buf, sizeof buf);
      if (n > 0) {
        if (!write_all(port, buf, (size_t)n)) guest_open = 0;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        guest_open = 0;
      }
    }
    if (fds[0].revents & POLLIN) {
      ssize_t n = read(port, buf, sizeof buf);
      if (n > 0 && !write_all(guest, buf, (size_t)n)) guest_open = 0;
    }
    /*
     * No host on the port (booting, or paused for the snapshot), or not yet known
     * to be there: after a restore, the host's first bytes can arrive before the
     * "host connected" message. So a hang-up never ends the stream here: a host
     * that is done with a sandbox stops its VM.
     */
    if ((fds[0].revents & POLLHUP) && !(fds[0].revents & POLLIN)) usleep(5000);
    if (!guest_open && agent != 0) {
      /* Stream closed but the agent lingers: give it a moment, then it goes. */
      usleep(10000);
    }
  }

  int oom = 0;
  FILE *vm = fopen("/proc/vmstat", "r");
  if (vm) {
    char key[64];
    long long val;
    while (fscanf(vm, "%63s %lld", key, &val) == 2)
      if (strcmp(key, "oom_kill") == 0) oom = (int)val;
    fclose(vm);
  }
  fprintf(stderr, "kindling-vminit: exit code=%d signal=%d oom=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
          WIFSIGNALED(status) ? WTERMSIG(status) : 0, oom);
  power_off();
  return 0;
}
