// The embedded server's data directory: its paths, creating and locking it,
// handing the cluster to the postgres user, the password file and the log.
#include "runtime/postgres_internal.hpp"

#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::runtime::postgres_internal {
namespace {

namespace fs = std::filesystem;

constexpr const char* kReachableDataDir = "/var/lib/troupe";
// sizeof(sockaddr_un::sun_path) is 108 on Linux, one byte of which is the NUL.
constexpr std::size_t kMaxSocketPath = 107;
constexpr std::size_t kLogTailLines = 20;

std::string password_path(const std::string& data_dir) { return data_dir + "/postgres.password"; }
std::string lock_path(const std::string& data_dir) { return data_dir + "/postgres.lock"; }

} // namespace

// ---------------------------------------------------------------------------
// Paths

std::string cluster_path(const std::string& data_dir) { return data_dir + "/postgres"; }
std::string log_path(const std::string& data_dir) { return data_dir + "/postgres.log"; }
std::string socket_path(const std::string& cluster) {
  return cluster + "/.s.PGSQL." + kPort;
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// ---------------------------------------------------------------------------
// Data directory

namespace {

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

} // namespace

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

namespace {

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

} // namespace

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

} // namespace troupe::runtime::postgres_internal
