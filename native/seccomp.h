/*
 * The seccomp filter of every Kindling sandbox (the namespace jailer's and a
 * micro-VM's agent): refuses what no function needs (mounts, ptrace, kernel
 * modules, bpf, keyrings, namespaces, raw and packet sockets, the clock, ...)
 * with EPERM and allows the rest.
 */
#ifndef KINDLING_SECCOMP_H
#define KINDLING_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define ERRNO(e) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define DENY_NR(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), ERRNO(EPERM)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#else
#error "kindling seccomp: unsupported architecture"
#endif

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

/* Installs the filter on the calling thread (no_new_privs must be set); -1 on failure. */
static int kindling_seccomp(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
      // x32 system calls (another ABI on the same arch) are refused wholesale.
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
      ERRNO(EPERM),
      DENY_NR(__NR_iopl),
      DENY_NR(__NR_ioperm),
      DENY_NR(__NR_create_module),
      DENY_NR(__NR_get_kernel_syms),
      DENY_NR(__NR_query_module),
      DENY_NR(__NR_nfsservctl),
      DENY_NR(__NR_uselib),
      DENY_NR(__NR_lookup_dcookie),
#endif
      DENY_NR(__NR_mount),
      DENY_NR(__NR_umount2),
      DENY_NR(__NR_pivot_root),
      DENY_NR(__NR_chroot),
      DENY_NR(__NR_open_tree),
      DENY_NR(__NR_move_mount),
      DENY_NR(__NR_fsopen),
      DENY_NR(__NR_fsconfig),
      DENY_NR(__NR_fsmount),
      DENY_NR(__NR_fspick),
      DENY_NR(__NR_mount_setattr),
      DENY_NR(__NR_ptrace),
      DENY_NR(__NR_process_vm_readv),
      DENY_NR(__NR_process_vm_writev),
      DENY_NR(__NR_kcmp),
      DENY_NR(__NR_pidfd_getfd),
      DENY_NR(__NR_kexec_load),
      DENY_NR(__NR_kexec_file_load),
      DENY_NR(__NR_init_module),
      DENY_NR(__NR_finit_module),
      DENY_NR(__NR_delete_module),
      DENY_NR(__NR_bpf),
      DENY_NR(__NR_perf_event_open),
      DENY_NR(__NR_reboot),
      DENY_NR(__NR_swapon),
      DENY_NR(__NR_swapoff),
      DENY_NR(__NR_setns),
      DENY_NR(__NR_unshare),
      DENY_NR(__NR_keyctl),
      DENY_NR(__NR_add_key),
      DENY_NR(__NR_request_key),
      DENY_NR(__NR_open_by_handle_at),
      DENY_NR(__NR_name_to_handle_at),
      DENY_NR(__NR_userfaultfd),
      DENY_NR(__NR_acct),
      DENY_NR(__NR_quotactl),
      DENY_NR(__NR_settimeofday),
      DENY_NR(__NR_clock_settime),
      DENY_NR(__NR_clock_adjtime),
      DENY_NR(__NR_adjtimex),
      DENY_NR(__NR_sethostname),
      DENY_NR(__NR_setdomainname),
      DENY_NR(__NR_syslog),
      DENY_NR(__NR_vhangup),
      DENY_NR(__NR_fanotify_init),
      DENY_NR(__NR_io_uring_setup),
      DENY_NR(__NR_io_uring_enter),
      DENY_NR(__NR_io_uring_register),
      // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc use clone.
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
      ERRNO(ENOSYS),
      // clone with any namespace flag (a user namespace would give capabilities back).
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1),
      ERRNO(EPERM),
      ALLOW,
      // socket(AF_PACKET, ...), socket(AF_INET|AF_INET6, SOCK_RAW|SOCK_PACKET, ...)
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 10),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, 6, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(1)),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_RAW, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_PACKET, 0, 1),
      ERRNO(EPERM),
      ALLOW,
      ALLOW,
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

#endif
