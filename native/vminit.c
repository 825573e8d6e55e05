/*
 * kindling-vminit: PID 1 of a Kindling micro-VM (the `microvm` sandbox driver).
 *
 *   kindling-vminit [node flags...]      as init (the kernel passes the words
 *                                        after "--" on its command line)
 *   kindling-vminit prepare TIME_MS SEED_HEX TMP_MB
 *                                        run by the agent, as root, once per
 *                                        sandbox after a snapshot restore
 *
 * As init it mounts what the guest needs (/proc, /sys, a /tmp tmpfs, tmpfs
 * folders for the code at /var/task and the layers at /opt), brings loopback up,
 * and starts the guest agent (node /var/runtime/agent.js) with fd 3 = one end of
 * a socketpair, pumping bytes between the other end and the virtio-serial port
 * named "kindling". Node cannot use the port itself (libuv sees a character
 * device as a file, and the agent needs a real stream it can unref). When the
 * agent exits it prints one line on the console for the host and powers off.
 *
 * "prepare" sets the clock (a restored snapshot wakes with the time it was taken),
 * mixes fresh host randomness into the kernel's pool and reseeds it (every
 * restore would otherwise share one random state), and sizes /tmp.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static int prepare(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: kindling-vminit prepare TIME_MS SEED_HEX TMP_MB\n");
    return 2;
  }
  long long ms = atoll(argv[2]);
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  if (clock_settime(CLOCK_REALTIME, &ts) != 0) perror("clock_settime");

  const char *hex = argv[3];
  size_t bytes = strlen(hex) / 2;
  if (bytes > 0 && bytes <= 512) {
    struct {
      struct rand_pool_info info;
      unsigned char buf[512];
    } seed;
    for (size_t i = 0; i < bytes; i++) {
      unsigned int b;
      sscanf(hex + 2 * i, "%2x", &b);
      seed.buf[i] = (unsigned char)b;
    }
    seed.info.entropy_count = (int)(bytes * 8);
    seed.info.buf_size = (int)bytes;
    int r = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (r >= 0) {
      if (ioctl(r, RNDADDENTROPY, &seed.info) != 0) perror("RNDADDENTROPY");
      if (ioctl(r, RNDRESEEDCRNG) != 0) perror("RNDRESEEDCRNG");
      close(r);
    }
  }

  char opts[64];
  snprintf(opts, sizeof opts, "size=%sm,mode=1777", argv[4]);
  if (mount("tmpfs", "/tmp", "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) != 0) {
    perror("remount /tmp");
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "prepare") == 0) return prepare(argc, argv);
  if (getpid() != 1) {
    fprintf(stderr, "kindling-vminit: runs as a micro-VM's init, or as: kindling-vminit prepare TIME_MS SEED_HEX TMP_MB\n");
    return 2;
  }

  must_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  must_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  must_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=512m,mode=1777");
  must_mount("tmpfs", "/var/task", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  must_mount("tmpfs", "/opt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  loopback_up();

  int port = open_port();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) power_off();

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
    if (dup2(sv[1], 3) != 3) _exit(127);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    chdir("/");
    execve(NODE, args, env);
    _exit(127);
  }
  close(sv[1]);
  int guest = sv[0];
  fcntl(guest, F_SETFL, O_NONBLOCK);

  int host_seen = 0, guest_open = 1, status = 0;
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

    struct pollfd fds[2] = {{.fd = port, .events = POLLIN}, {.fd = guest, .events = guest_open ? POLLIN : 0}};
    int r = poll(fds, 2, 50);
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
      if (n > 0) {
        host_seen = 1;
        if (!write_all(guest, buf, (size_t)n)) guest_open = 0;
      } else if (n == 0 && host_seen) {
        /* The host hung up: the agent sees its stream end and exits. */
        shutdown(guest, SHUT_WR);
      }
    }
    if (fds[0].revents & POLLHUP) {
      if (host_seen) shutdown(guest, SHUT_WR);
      /* Not yet connected (booting, or waiting to be snapshotted): don't spin. */
      usleep(5000);
    }
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
