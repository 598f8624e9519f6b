// Child processes of the embedded PostgreSQL server (initdb, postgres,
// pg_config) and the drop to the postgres system user when troupe is root.
#include "runtime/postgres_internal.hpp"

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::runtime::postgres_internal {
namespace {

std::optional<server_account> lookup_account(const char* name) {
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found)) == ERANGE)
    buffer.resize(buffer.size() * 2);
  if (rc != 0 || found == nullptr) return std::nullopt;

  server_account account{entry.pw_uid, entry.pw_gid, {}};
  int count = 16;
  account.groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(name, entry.pw_gid, account.groups.data(), &count) == -1)
    account.groups.resize(std::max<std::size_t>(static_cast<std::size_t>(count),
                                                account.groups.size() * 2));
  account.groups.resize(static_cast<std::size_t>(count));
  return account;
}

} // namespace

// PostgreSQL refuses to run as root, so a root troupe hands the cluster to
// the postgres system user that the Debian package creates.
std::optional<server_account> server_account_if_root() {
  if (::geteuid() != 0) return std::nullopt;
  auto account = lookup_account(kServerUser);
  if (!account)
    fail(std::string("troupe is running as root, and PostgreSQL must then run as the ") +
         kServerUser + " system user, but no such user exists; " + kInstallHint +
         ", which creates it.");
  return account;
}

// ---------------------------------------------------------------------------
// Child processes: fork + exec without a shell. Everything between fork and
// exec is async-signal-safe, because other threads may hold locks (malloc,
// stdio) at the moment of the fork.

namespace {

enum class child_stage : int { streams = 1, session, directory, credentials, parent_gone, exec };

struct child_report {
  int stage;
  int error;
};

// Everything the child needs, prepared before fork so the child allocates nothing.
struct child_plan {
  std::vector<char*> argv;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  const char* cwd;
  const server_account* account;
  bool own_session;
  bool die_with_parent;
  pid_t parent;
  int report_fd;
  int max_fd;
};

[[noreturn]] void child_fail(int report_fd, child_stage stage) noexcept {
  const child_report report{static_cast<int>(stage), errno};
  const ssize_t written = ::write(report_fd, &report, sizeof report);
  (void)written; // nothing more can be done if the parent is gone
  ::_exit(127);
}

// Handlers are reset by exec anyway, but ignored signals and the blocked mask
// are inherited, and the server relies on default SIGPIPE/SIGCHLD semantics.
void reset_signals() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

bool redirect(int from, int to) noexcept {
  // dup2 onto itself keeps FD_CLOEXEC, which would close the stream at exec.
  if (from == to) return ::fcntl(to, F_SETFD, 0) == 0;
  return ::dup2(from, to) == to;
}

// Descriptors opened elsewhere in troupe without O_CLOEXEC (listening
// sockets, say) must not leak into a long-lived server.
void close_inherited_descriptors(int max_fd) noexcept {
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

[[noreturn]] void run_child(const child_plan& plan) noexcept {
  reset_signals();
  if (plan.own_session && ::setsid() < 0) child_fail(plan.report_fd, child_stage::session);
  if (!redirect(plan.stdin_fd, 0) || !redirect(plan.stdout_fd, 1) ||
      !redirect(plan.stderr_fd, 2))
    child_fail(plan.report_fd, child_stage::streams);
  if (::chdir(plan.cwd) != 0) child_fail(plan.report_fd, child_stage::directory);
  if (plan.account != nullptr) {
    const auto& account = *plan.account;
    if (::setgroups(account.groups.size(), account.groups.data()) != 0 ||
        ::setgid(account.gid) != 0 || ::setuid(account.uid) != 0)
      child_fail(plan.report_fd, child_stage::credentials);
  }
  if (plan.die_with_parent) {
    // Set after setuid: a credential change clears the death signal. Then
    // check the parent, which may have died before prctl took effect.
    // Note: the "parent" is the thread that forked; start() should be called
    // from a thread that lives as long as the server is wanted.
    ::prctl(PR_SET_PDEATHSIG, SIGINT);
    if (::getppid() != plan.parent) {
      errno = ESRCH;
      child_fail(plan.report_fd, child_stage::parent_gone);
    }
  }
  close_inherited_descriptors(plan.max_fd);
  ::execv(plan.argv[0], plan.argv.data());
  child_fail(plan.report_fd, child_stage::exec);
}

std::string stage_text(int stage) {
  switch (static_cast<child_stage>(stage)) {
  case child_stage::streams: return "redirect its standard streams";
  case child_stage::session: return "start a new session";
  case child_stage::directory: return "change to its working directory";
  case child_stage::credentials:
    return std::string("switch to the ") + kServerUser + " system user";
  case child_stage::parent_gone: return "start because troupe exited";
  case child_stage::exec: return "execute the program";
  }
  return "start";
}

} // namespace

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

std::string describe_status(int status) {
  if (status == -1) return "could not be waited for";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended abnormally";
}

// Starts the child; throws when it could not reach exec (the child reports
// the failing step and errno through a close-on-exec pipe).
pid_t spawn(const child_spec& spec) {
  const unique_fd devnull{::open("/dev/null", O_RDWR | O_CLOEXEC)};
  if (devnull.get() < 0) fail("Could not open /dev/null: " + describe_errno(errno) + ".");
  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) != 0)
    fail("Could not create a pipe to start " + spec.argv[0] + ": " + describe_errno(errno) + ".");
  const unique_fd report_read{report_pipe[0]};
  unique_fd report_write{report_pipe[1]};

  child_plan plan{};
  for (const auto& arg : spec.argv) plan.argv.push_back(const_cast<char*>(arg.c_str()));
  plan.argv.push_back(nullptr);
  plan.stdin_fd = devnull.get();
  plan.stdout_fd = spec.stdout_fd >= 0 ? spec.stdout_fd : devnull.get();
  plan.stderr_fd = spec.stderr_fd >= 0 ? spec.stderr_fd : devnull.get();
  plan.cwd = spec.cwd.c_str();
  plan.account = spec.account;
  plan.own_session = spec.own_session;
  plan.die_with_parent = spec.die_with_parent;
  plan.parent = ::getpid();
  plan.report_fd = report_write.get();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  plan.max_fd = static_cast<int>(std::clamp<long>(open_max, 1024, 65536));

  const pid_t pid = ::fork();
  if (pid < 0) fail("Could not fork to start " + spec.argv[0] + ": " + describe_errno(errno) + ".");
  if (pid == 0) run_child(plan);

  report_write.reset();
  child_report report{};
  ssize_t n = 0;
  do {
    n = ::read(report_read.get(), &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof report)) {
    wait_for_exit(pid);
    fail("Could not start " + spec.argv[0] + ": could not " + stage_text(report.stage) + ": " +
         describe_errno(report.error) + ".");
  }
  return pid;
}

// Runs argv to completion and returns its standard output, or nothing if it
// could not be run or did not exit with status 0.
std::optional<std::string> capture_output(std::vector<std::string> argv) {
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return std::nullopt;
  const unique_fd out_read{out_pipe[0]};
  unique_fd out_write{out_pipe[1]};
  child_spec spec;
  spec.argv = std::move(argv);
  spec.stdout_fd = out_write.get();
  pid_t pid = -1;
  try {
    pid = spawn(spec);
  } catch (const embedded_postgres_error&) {
    return std::nullopt;
  }
  out_write.reset();
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(out_read.get(), buffer, sizeof buffer);
    if (n > 0) output.append(buffer, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR) break;
  }
  const int status = wait_for_exit(pid);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return output;
}

} // namespace troupe::runtime::postgres_internal
