#include "runtime/embedded_postgres.hpp"

// Debian installs libpq's header under postgresql/ unless the build adds
// -I$(pg_config --includedir).
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif
#include <pqxx/pqxx>
#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::runtime {
namespace {

namespace fs = std::filesystem;
using steady_clock = std::chrono::steady_clock;

constexpr const char* kPort = "5432";
constexpr const char* kSuperuser = "troupe";
constexpr const char* kServerUser = "postgres";
constexpr const char* kInstallHint =
    "install the Debian package postgresql (apt-get install postgresql)";
constexpr const char* kReachableDataDir = "/var/lib/troupe";
// sizeof(sockaddr_un::sun_path) is 108 on Linux, one byte of which is the NUL.
constexpr std::size_t kMaxSocketPath = 107;
constexpr auto kPollInterval = std::chrono::milliseconds(50);
constexpr auto kFastShutdownTimeout = std::chrono::seconds(30);
constexpr auto kQuitTimeout = std::chrono::seconds(5);
constexpr std::size_t kLogTailLines = 20;

[[noreturn]] void fail(const std::string& message) { throw embedded_postgres_error(message); }

// std::strerror is not thread-safe; the category message is.
std::string describe_errno(int err) { return std::generic_category().message(err); }

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------
// Paths

std::string cluster_path(const std::string& data_dir) { return data_dir + "/postgres"; }
std::string password_path(const std::string& data_dir) { return data_dir + "/postgres.password"; }
std::string log_path(const std::string& data_dir) { return data_dir + "/postgres.log"; }
std::string lock_path(const std::string& data_dir) { return data_dir + "/postgres.lock"; }
std::string socket_path(const std::string& cluster) {
  return cluster + "/.s.PGSQL." + kPort;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

bool has_server_binaries(const std::string& dir) {
  return is_executable_file(dir + "/postgres") && is_executable_file(dir + "/initdb");
}

// ---------------------------------------------------------------------------
// The postgres system account (only used when running as root)

struct server_account {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

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

struct child_spec {
  std::vector<std::string> argv; // argv[0] is the executable's path
  int stdout_fd = -1;            // -1: /dev/null
  int stderr_fd = -1;            // -1: /dev/null
  std::string cwd = "/";
  const server_account* account = nullptr; // switch to this user
  bool own_session = false;                // keep terminal signals away
  bool die_with_parent = false;            // SIGINT (fast shutdown) on our death
};

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

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// ---------------------------------------------------------------------------
// Locating binaries

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

std::string bindir_from_pg_config() {
  const std::string pg_config = find_in_path("pg_config");
  if (pg_config.empty()) return {};
  const auto output = capture_output({pg_config, "--bindir"});
  if (!output) return {};
  // Debian's /usr/bin/pg_config comes with libpq-dev and may name a
  // directory without the server, so only accept one that has it.
  const std::string dir = trim(*output);
  return !dir.empty() && has_server_binaries(dir) ? dir : std::string{};
}

// "15" → {15}, "9.6" → {9, 6}; empty if the name does not start with a digit.
std::vector<long> version_key(const std::string& name) {
  std::vector<long> key;
  std::size_t pos = 0;
  while (pos < name.size() && std::isdigit(static_cast<unsigned char>(name[pos]))) {
    std::size_t end = pos;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    key.push_back(std::strtol(name.substr(pos, end - pos).c_str(), nullptr, 10));
    if (end >= name.size() || name[end] != '.') break;
    pos = end + 1;
  }
  return key;
}

std::string newest_debian_bindir() {
  std::error_code ec;
  std::string best;
  std::vector<long> best_key;
  for (fs::directory_iterator it("/usr/lib/postgresql", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const auto key = version_key(name);
    const std::string bin = it->path().string() + "/bin";
    if (key.empty() || !has_server_binaries(bin)) continue;
    if (best.empty() || key > best_key) {
      best = bin;
      best_key = key;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------
// Data directory

// mkdir -p with mode 0755 regardless of umask: when troupe runs as root the
// postgres user must be able to traverse the directories created here.
void make_directories(const fs::path& dir) {
  fs::path prefix;
  for (const auto& part : dir) {
    if (part.empty()) continue;
    prefix /= part;
    if (prefix == prefix.root_path()) continue;
    if (::mkdir(prefix.c_str(), 0755) == 0) {
      ::chmod(prefix.c_str(), 0755);
    } else if (errno != EEXIST) {
      fail("Could not create the data directory " + dir.string() + " (at " + prefix.string() +
           "): " + describe_errno(errno) + ".");
    }
  }
}

std::string prepare_data_dir(const std::string& data_dir) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(data_dir, ec).lexically_normal();
  if (ec)
    fail("Could not resolve the data directory " + data_dir + ": " + ec.message() + ".");
  make_directories(absolute);
  char* real = ::realpath(absolute.c_str(), nullptr);
  if (real == nullptr)
    fail("Could not resolve the data directory " + absolute.string() + ": " +
         describe_errno(errno) + ".");
  const std::string resolved = real;
  std::free(real);
  if (!fs::is_directory(resolved, ec))
    fail("The data directory " + resolved + " exists but is not a directory.");
  return resolved;
}

void check_socket_path_length(const std::string& cluster) {
  const std::string socket = socket_path(cluster);
  if (socket.size() > kMaxSocketPath)
    fail("The PostgreSQL socket path " + socket + " is " + std::to_string(socket.size()) +
         " bytes long, but Unix socket paths are limited to " + std::to_string(kMaxSocketPath) +
         " bytes; choose a shorter --data-dir (for example " + kReachableDataDir + ").");
}

// Every directory from / down to dir, in that order.
std::vector<std::string> ancestors_of(const std::string& dir) {
  std::vector<std::string> chain;
  for (fs::path p = dir;; p = p.parent_path()) {
    chain.push_back(p.string());
    if (p == p.root_path() || p.parent_path() == p) break;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

// Asks the kernel, as the postgres user, whether each ancestor can be
// searched; this honours ACLs and group membership exactly. The child only
// makes async-signal-safe calls and reports the first failing index.
void check_reachable(const server_account& account, const std::string& data_dir) {
  const std::vector<std::string> chain = ancestors_of(data_dir);
  std::vector<const char*> paths;
  for (const auto& p : chain) paths.push_back(p.c_str());

  const pid_t pid = ::fork();
  if (pid < 0)
    fail("Could not fork to check access to " + data_dir + ": " + describe_errno(errno) + ".");
  if (pid == 0) {
    if (::setgroups(account.groups.size(), account.groups.data()) != 0 ||
        ::setgid(account.gid) != 0 || ::setuid(account.uid) != 0)
      ::_exit(255);
    for (std::size_t i = 0; i < paths.size(); ++i)
      if (::access(paths[i], X_OK) != 0)
        ::_exit(static_cast<int>(std::min<std::size_t>(i + 1, 254)));
    ::_exit(0);
  }
  const int status = wait_for_exit(pid);
  if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) == 255)
    fail("Could not check whether the " + std::string(kServerUser) +
         " system user can reach the data directory " + data_dir + ".");
  const std::string& blocked = chain[static_cast<std::size_t>(WEXITSTATUS(status)) - 1];
  fail("The " + std::string(kServerUser) + " system user cannot reach the data directory " +
       data_dir + ": it has no search permission on " + blocked +
       ". troupe runs PostgreSQL as that user when it runs as root, so choose a --data-dir it "
       "can reach, such as " + kReachableDataDir + ", or grant it access (chmod o+x " + blocked +
       ").");
}

// Serialises start() across processes sharing a data directory, so two
// troupe processes never initdb or launch the same cluster at once.
unique_fd lock_data_dir(const std::string& data_dir) {
  const std::string path = lock_path(data_dir);
  unique_fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)};
  if (fd.get() < 0)
    fail("Could not open the lock file " + path + ": " + describe_errno(errno) + ".");
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) fail("Could not lock " + path + ": " + describe_errno(errno) + ".");
  }
  return fd;
}

void create_cluster_dir(const std::string& cluster, const std::optional<server_account>& account) {
  if (::mkdir(cluster.c_str(), 0700) == 0) {
    ::chmod(cluster.c_str(), 0700);
  } else if (errno != EEXIST) {
    fail("Could not create the cluster directory " + cluster + ": " + describe_errno(errno) + ".");
  }
  if (account && ::lchown(cluster.c_str(), account->uid, account->gid) != 0)
    fail("Could not give the cluster directory " + cluster + " to the " + kServerUser +
         " user: " + describe_errno(errno) + ".");
}

// chown -R without following symlinks.
void give_cluster_to(const std::string& cluster, const server_account& account) {
  const auto give = [&](const std::string& path) {
    if (::lchown(path.c_str(), account.uid, account.gid) != 0)
      fail("Could not give " + path + " to the " + kServerUser + " user: " +
           describe_errno(errno) + ".");
  };
  give(cluster);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(cluster, ec), end; !ec && it != end; it.increment(ec))
    give(it->path().string());
  if (ec) fail("Could not walk the cluster directory " + cluster + ": " + ec.message() + ".");
}

// ---------------------------------------------------------------------------
// Password

std::string random_password() {
  if (::sodium_init() < 0)
    fail("Could not initialise libsodium to generate the database password.");
  unsigned char bytes[16];
  ::randombytes_buf(bytes, sizeof bytes);
  char hex[sizeof bytes * 2 + 1];
  ::sodium_bin2hex(hex, sizeof hex, bytes, sizeof bytes);
  return hex;
}

void write_private_file(const std::string& path, const std::string& content,
                        const server_account* owner) {
  const unique_fd fd{
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (fd.get() < 0) fail("Could not create " + path + ": " + describe_errno(errno) + ".");
  // A pre-existing file keeps its mode through O_CREAT, so set it explicitly.
  if (::fchmod(fd.get(), 0600) != 0 ||
      (owner != nullptr && ::fchown(fd.get(), owner->uid, owner->gid) != 0))
    fail("Could not restrict access to " + path + ": " + describe_errno(errno) + ".");
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("Could not write " + path + ": " + describe_errno(errno) + ".");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("Could not write " + path + ": " + describe_errno(errno) + ".");
}

// Written via rename so a crash never leaves a truncated password behind.
void store_password(const std::string& data_dir, const std::string& password) {
  const std::string path = password_path(data_dir);
  const std::string temp = path + ".tmp";
  write_private_file(temp, password + "\n", nullptr);
  if (::rename(temp.c_str(), path.c_str()) != 0)
    fail("Could not store the database password in " + path + ": " + describe_errno(errno) + ".");
}

std::optional<std::string> load_password(const std::string& data_dir) {
  std::ifstream in(password_path(data_dir));
  std::string password;
  if (!in || !std::getline(in, password)) return std::nullopt;
  password = trim(password);
  if (password.empty()) return std::nullopt;
  return password;
}

std::string require_password(const std::string& data_dir) {
  auto password = load_password(data_dir);
  if (!password)
    fail("The PostgreSQL cluster in " + cluster_path(data_dir) +
         " exists but its password file " + password_path(data_dir) +
         " is missing or empty, so troupe cannot connect to it; restore the file or move the "
         "cluster away to have a new one created.");
  return *password;
}

// ---------------------------------------------------------------------------
// Log

unique_fd open_log(const std::string& path) {
  unique_fd fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640)};
  if (fd.get() < 0)
    fail("Could not open the PostgreSQL log " + path + ": " + describe_errno(errno) + ".");
  return fd;
}

off_t log_size(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_size : 0;
}

// The last lines written to the log since offset, for error messages.
std::string log_tail(const std::string& path, off_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(" + path + " could not be read)";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(offset, size - 64 * 1024);
  in.seekg(std::max<std::streamoff>(from, 0));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > kLogTailLines) lines.erase(lines.begin());
  }
  if (lines.empty()) return "(nothing was written to " + path + ")";
  std::string out = "last lines of " + path + ":";
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

// ---------------------------------------------------------------------------
// Connections

// libpq key=value quoting: single quotes, with \ and ' escaped by backslash.
std::string conninfo_value(const std::string& value) {
  const bool plain = !value.empty() && value.find_first_of(" \t\n\r\f\v'\\") == std::string::npos;
  if (plain) return value;
  std::string out = "'";
  for (const char c : value) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string make_conninfo(const std::string& cluster, const std::string& password,
                          const std::string& database) {
  std::string s = "host=" + conninfo_value(cluster) + " port=" + kPort + " user=" + kSuperuser;
  if (!password.empty()) s += " password=" + conninfo_value(password);
  return s + " dbname=" + conninfo_value(database);
}

bool accepts_connections(const std::string& cluster) {
  return ::PQping(make_conninfo(cluster, "", "postgres").c_str()) == PQPING_OK;
}

bool database_exists(pqxx::connection& c, const std::string& database) {
  pqxx::nontransaction tx{c};
  return !tx.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", database).empty();
}

void ensure_database(const std::string& cluster, const std::string& password,
                     const std::string& database) {
  try {
    pqxx::connection c{make_conninfo(cluster, password, "postgres")};
    if (database_exists(c, database)) return;
    try {
      pqxx::nontransaction tx{c};
      tx.exec("CREATE DATABASE " + c.quote_name(database));
    } catch (const pqxx::sql_error&) {
      // Another process may have created it meanwhile (duplicate_database,
      // or a unique violation on pg_database); only its absence is an error.
      if (!database_exists(c, database)) throw;
    }
  } catch (const std::exception& e) {
    fail("Could not make sure that the database " + quoted(database) +
         " exists in the PostgreSQL server for " + cluster + ": " + trim(e.what()));
  }
}

// ---------------------------------------------------------------------------
// Existing servers and stale lock files

std::optional<pid_t> read_postmaster_pid(const std::string& cluster) {
  std::ifstream in(cluster + "/postmaster.pid");
  long pid = 0;
  if (!in || !(in >> pid) || pid <= 0 || pid > INT_MAX) return std::nullopt;
  return static_cast<pid_t>(pid);
}

bool process_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

enum class pid_holder {
  nobody,        // no such process
  other_process, // alive, but not this cluster's postmaster (pid reused)
  maybe_server,  // possibly this cluster's postmaster
};

// Who holds pid now. A pid from an old postmaster.pid may have been reused by
// an unrelated process (after a reboot, or in a fresh container). When /proc
// cannot tell, assume a server: starting a second postmaster on the same
// cluster would be far worse than an error.
pid_holder classify_pid(pid_t pid, const std::string& cluster) {
  if (!process_alive(pid)) return pid_holder::nobody;
  if (pid == ::getpid()) return pid_holder::other_process;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream cmdline(proc + "/cmdline", std::ios::binary);
  if (!cmdline) return pid_holder::maybe_server;
  // Zombies and kernel threads have an empty command line; the postmaster's
  // is "/path/to/postgres -D ...", a server child's "postgres: ...".
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  std::string program = argv0.substr(0, argv0.find(' '));
  if (!program.empty() && program.back() == ':') program.pop_back();
  program = fs::path(program).filename().string();
  if (program != "postgres" && program != "postmaster") return pid_holder::other_process;
  // The postmaster's working directory is its data directory.
  std::error_code ec;
  const fs::path cwd = fs::read_symlink(proc + "/cwd", ec);
  if (ec) return pid_holder::maybe_server; // not permitted to look
  const bool same = fs::equivalent(cwd, cluster, ec);
  return same || ec ? pid_holder::maybe_server : pid_holder::other_process;
}

void remove_stale_lock_files(const std::string& cluster) {
  for (const std::string& path : {cluster + "/postmaster.pid", socket_path(cluster) + ".lock"}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      fail("Could not remove the stale lock file " + path + ": " + describe_errno(errno) + ".");
  }
}

// True when a live server for this cluster accepts connections; otherwise
// clears the way for a new one and returns false.
//
// A postmaster.pid naming a dead process is left alone: PostgreSQL removes it
// itself, after checking through the shared memory key recorded in it that
// no orphaned backends of a killed postmaster still use the cluster. Files
// it would refuse to start over (unreadable, or naming a live process that
// is not this cluster's server) are removed here.
bool adopt_running_server(const std::string& cluster, const std::string& log,
                          std::chrono::seconds timeout) {
  if (!path_exists(cluster + "/postmaster.pid")) return false;
  const auto pid = read_postmaster_pid(cluster);
  const pid_holder holder = pid ? classify_pid(*pid, cluster) : pid_holder::other_process;
  if (holder != pid_holder::maybe_server) {
    if (holder == pid_holder::other_process) remove_stale_lock_files(cluster);
    return false;
  }
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    if (accepts_connections(cluster)) return true;
    if (!process_alive(*pid)) return false; // it was shutting down
    if (steady_clock::now() >= deadline)
      fail("A PostgreSQL server (pid " + std::to_string(*pid) + ") is running for " + cluster +
           " but did not accept connections within " + std::to_string(timeout.count()) +
           " seconds; stop it, or see " + log + ".");
    std::this_thread::sleep_for(kPollInterval);
  }
}

// ---------------------------------------------------------------------------
// initdb and postgres

void run_initdb(const std::string& bindir, const std::string& data_dir,
                const std::optional<server_account>& account, const std::string& password,
                bool fsync, int log_fd) {
  const std::string cluster = cluster_path(data_dir);
  // initdb reads the password from a file; it runs as the server user, so
  // the file belongs to that user, and it is removed whatever happens.
  const std::string pwfile = data_dir + "/postgres.initdb-password";
  write_private_file(pwfile, password + "\n", account ? &*account : nullptr);
  struct remove_on_exit {
    const std::string& path;
    ~remove_on_exit() { ::unlink(path.c_str()); }
  } cleanup{pwfile};

  child_spec spec;
  spec.argv = {bindir + "/initdb", "-D", cluster, "-U", kSuperuser, "--encoding=UTF8",
               "--locale=C", "--auth=scram-sha-256", "--pwfile=" + pwfile};
  if (!fsync) spec.argv.push_back("--no-sync");
  spec.stdout_fd = log_fd;
  spec.stderr_fd = log_fd;
  spec.cwd = cluster;
  spec.account = account ? &*account : nullptr;
  const off_t offset = log_size(log_fd);
  const int status = wait_for_exit(spawn(spec));
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail("Could not initialise the PostgreSQL cluster in " + cluster + ": " + spec.argv[0] + " " +
         describe_status(status) + "; " + log_tail(log_path(data_dir), offset));
}

// unix_socket_directories is a comma-separated list; double quotes (with ""
// for a quote) keep a directory containing commas or spaces whole.
std::string socket_directory_setting(const std::string& dir) {
  std::string out = "\"";
  for (const char c : dir) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Settings go on the command line so that nothing in the cluster is edited.
std::vector<std::string> server_argv(const std::string& bindir, const std::string& cluster,
                                     bool fsync) {
  std::vector<std::string> argv = {
      bindir + "/postgres", "-D", cluster,
      "-c", "listen_addresses=", // Unix socket only
      "-c", "unix_socket_directories=" + socket_directory_setting(cluster),
      "-c", std::string("port=") + kPort,
      "-c", "max_connections=200",
      "-c", "shared_buffers=128MB"};
  if (!fsync) {
    for (const char* setting : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      argv.push_back("-c");
      argv.push_back(setting);
    }
  }
  return argv;
}

// Polls until the server accepts connections; throws if it exits or the
// timeout passes. child is reset to -1 once reaped.
void wait_until_ready(pid_t& child, const std::string& cluster, const std::string& log,
                      off_t log_offset, std::chrono::seconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child || (done < 0 && errno == ECHILD)) {
      child = -1;
      fail("The PostgreSQL server for " + cluster + " " +
           (done == -1 ? std::string("exited") : describe_status(status)) +
           " during startup; " + log_tail(log, log_offset));
    }
    if (accepts_connections(cluster)) return;
    if (steady_clock::now() >= deadline)
      fail("The PostgreSQL server for " + cluster + " did not accept connections within " +
           std::to_string(timeout.count()) + " seconds; " + log_tail(log, log_offset));
    std::this_thread::sleep_for(kPollInterval);
  }
}

// Signals pid and waits up to timeout for it to be reaped.
bool signal_and_wait(pid_t pid, int sig, std::chrono::seconds timeout) {
  if (::kill(pid, sig) != 0 && errno == ESRCH) return true; // already reaped
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return true;
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

} // namespace

// ---------------------------------------------------------------------------

std::string find_postgres_bindir() {
  std::string dir = bindir_from_pg_config();
  return dir.empty() ? newest_debian_bindir() : dir;
}

embedded_postgres::embedded_postgres(embedded_postgres_options opts) : opts_(std::move(opts)) {
  if (opts_.data_dir.empty())
    fail("No data directory was given for the embedded PostgreSQL server.");
  if (opts_.database.empty())
    fail("No database name was given for the embedded PostgreSQL server.");
  // Absolute from the start, so cluster_dir() is meaningful before start().
  std::error_code ec;
  const fs::path absolute = fs::absolute(opts_.data_dir, ec).lexically_normal();
  if (!ec) opts_.data_dir = absolute.string();
  while (opts_.data_dir.size() > 1 && opts_.data_dir.back() == '/') opts_.data_dir.pop_back();
}

embedded_postgres::~embedded_postgres() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; stop() only makes system calls anyway.
  }
}

void embedded_postgres::start() {
  // Reusing another process's server leaves child_ unset; repeating start()
  // then simply re-checks that server, which is cheap. A server of ours that
  // has died is reaped here and replaced.
  if (child_ > 0) {
    int status = 0;
    if (::waitpid(child_, &status, WNOHANG) == 0) return;
    child_ = -1;
  }
  if (bindir_.empty()) bindir_ = find_postgres_bindir();
  if (bindir_.empty())
    fail(std::string("No PostgreSQL server binaries (postgres and initdb) were found, neither "
                     "through pg_config --bindir nor in /usr/lib/postgresql/*/bin; ") +
         kInstallHint + ".");
  const std::optional<server_account> account = server_account_if_root();
  opts_.data_dir = prepare_data_dir(opts_.data_dir);
  const std::string cluster = cluster_dir();
  check_socket_path_length(cluster);
  const unique_fd lock = lock_data_dir(opts_.data_dir);

  if (adopt_running_server(cluster, log_path(opts_.data_dir), opts_.start_timeout)) {
    password_ = require_password(opts_.data_dir);
    ensure_database(cluster, password_, opts_.database);
    return;
  }

  if (account) check_reachable(*account, opts_.data_dir);
  const unique_fd log = open_log(log_path(opts_.data_dir));
  create_cluster_dir(cluster, account);
  if (!path_exists(cluster + "/PG_VERSION")) {
    // Stored before initdb: a cluster must never exist without its password.
    password_ = random_password();
    store_password(opts_.data_dir, password_);
    run_initdb(bindir_, opts_.data_dir, account, password_, opts_.fsync, log.get());
  } else {
    password_ = require_password(opts_.data_dir);
  }
  if (account) give_cluster_to(cluster, *account);

  child_spec spec;
  spec.argv = server_argv(bindir_, cluster, opts_.fsync);
  spec.stdout_fd = log.get();
  spec.stderr_fd = log.get();
  spec.cwd = cluster;
  spec.account = account ? &*account : nullptr;
  spec.own_session = true;
  spec.die_with_parent = true;
  const off_t log_offset = log_size(log.get());
  child_ = spawn(spec);
  try {
    wait_until_ready(child_, cluster, log_path(opts_.data_dir), log_offset, opts_.start_timeout);
    ensure_database(cluster, password_, opts_.database);
  } catch (...) {
    stop();
    throw;
  }
}

void embedded_postgres::stop() {
  if (child_ <= 0) return;
  const pid_t pid = std::exchange(child_, -1);
  if (signal_and_wait(pid, SIGINT, kFastShutdownTimeout)) return;   // fast shutdown
  if (signal_and_wait(pid, SIGQUIT, kQuitTimeout)) return;          // immediate shutdown
  ::kill(pid, SIGKILL);
  wait_for_exit(pid);
}

bool embedded_postgres::owns_server() const { return child_ > 0; }

std::string embedded_postgres::connection_string() const {
  // Before start() the password may still be on disk from an earlier run.
  const std::string password =
      !password_.empty() ? password_ : load_password(opts_.data_dir).value_or("");
  return make_conninfo(cluster_dir(), password, opts_.database);
}

std::string embedded_postgres::cluster_dir() const { return cluster_path(opts_.data_dir); }

} // namespace troupe::runtime
