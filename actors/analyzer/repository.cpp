#include "actors/analyzer/repository.hpp"

#include <git2.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ctime>
#include <map>
#include <memory>
#include <unordered_map>

namespace troupe::analyzer {
namespace {

// libgit2 is initialised once for the process (its counter makes repeated
// calls cheap, but the first sets up TLS and its global state).
struct library {
  library() { git_libgit2_init(); }
  ~library() { git_libgit2_shutdown(); }
};

void ensure_library() { static library lib; }

// Owning handles for libgit2 objects.
template <class T, void (*Free)(T*)>
struct handle {
  T* p = nullptr;
  handle() = default;
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  ~handle() {
    if (p)
      Free(p);
  }
  T** out() { return &p; }
  T* get() const { return p; }
};
using repository_h = handle<git_repository, git_repository_free>;
using object_h = handle<git_object, git_object_free>;
using revwalk_h = handle<git_revwalk, git_revwalk_free>;
using commit_h = handle<git_commit, git_commit_free>;
using tree_h = handle<git_tree, git_tree_free>;
using diff_h = handle<git_diff, git_diff_free>;

std::string last_error() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

int last_error_class() {
  const git_error* e = git_error_last();
  return e ? e->klass : 0;
}

struct fetch_context {
  const fetch_request* request;
  bool over_limit = false;
  bool stopped = false;
  int credential_attempts = 0;
  std::int64_t received_bytes = 0;
  std::int64_t objects = 0;
};

int on_transfer(const git_indexer_progress* stats, void* payload) {
  auto* ctx = static_cast<fetch_context*>(payload);
  ctx->received_bytes = static_cast<std::int64_t>(stats->received_bytes);
  ctx->objects = static_cast<std::int64_t>(stats->received_objects);
  if (ctx->request->stop && ctx->request->stop->load()) {
    ctx->stopped = true;
    return -1;
  }
  if (ctx->request->max_bytes > 0 && ctx->received_bytes > ctx->request->max_bytes) {
    ctx->over_limit = true;
    return -1;
  }
  return 0;
}

int on_sideband(const char*, int, void* payload) {
  auto* ctx = static_cast<fetch_context*>(payload);
  if (ctx->request->stop && ctx->request->stop->load()) {
    ctx->stopped = true;
    return -1;
  }
  return 0;
}

int on_credentials(git_credential** out, const char*, const char*, unsigned int allowed,
                   void* payload) {
  auto* ctx = static_cast<fetch_context*>(payload);
  const auto& r = *ctx->request;
  // One try with what the URL carried; a second ask means it was refused.
  if (r.username.empty() || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) ||
      ctx->credential_attempts++ > 0)
    return GIT_EAUTH;
  return git_credential_userpass_plaintext_new(out, r.username.c_str(), r.password.c_str());
}

bool is_remote(const std::string& url) {
  return url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0 ||
         url.rfind("git://", 0) == 0;
}

// `ref` as a branch of origin, a tag, or a commit, peeled to its commit.
bool resolve_ref(git_repository* repo, const std::string& ref, object_h& commit,
                 std::string& kind) {
  struct candidate {
    std::string spec;
    const char* kind;
  };
  for (const auto& c : {candidate{"refs/remotes/origin/" + ref, "branch"},
                        candidate{"refs/tags/" + ref, "tag"}, candidate{ref, "commit"}}) {
    object_h obj;
    if (git_revparse_single(obj.out(), repo, c.spec.c_str()) != 0)
      continue;
    if (git_object_peel(commit.out(), obj.get(), GIT_OBJECT_COMMIT) != 0)
      continue;
    kind = c.kind;
    return true;
  }
  return false;
}

// The bytes of the files under `dir` (symlinks not followed).
std::int64_t git_dir_bytes(const std::filesystem::path& dir) {
  std::int64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it{dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    std::error_code fe;
    if (it->is_regular_file(fe))
      total += static_cast<std::int64_t>(it->file_size(fe));
  }
  return total;
}

std::string oid_text(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

std::string rfc3339(git_time_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using blob_h = handle<git_blob, git_blob_free>;

// A tree entry's name that is safe to create in a directory of ours: not
// empty, ".", ".." or ".git" (in any case), no slash. Git refuses such names
// too; a crafted repository can still hold them.
bool safe_name(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos)
    return false;
  std::string lower{name};
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower != ".git";
}

constexpr int max_tree_depth = 256;

void write_blob(const git_blob* blob, const std::filesystem::path& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    throw git_failure("could not write " + path.filename().string() + ": " + std::strerror(errno),
                      false);
  const auto* data = static_cast<const char*>(git_blob_rawcontent(blob));
  auto left = static_cast<std::size_t>(git_blob_rawsize(blob));
  while (left > 0) {
    auto n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      throw git_failure("could not write " + path.filename().string() + ": " + std::strerror(e),
                        false);
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// Writes `tree` into `dir` one entry at a time, checking `stop` before each:
// a cancel or a run-time limit ends a checkout of many files at the next one
// (libgit2's own checkout asks nothing while it writes). Files are created
// exclusively and never through a symbolic link; directories are made here,
// so a name met twice is an error rather than a path out of the checkout.
// Symbolic links are written as links (the analysis never follows them);
// submodules are left out. The content is the repository's, unfiltered.
void write_tree(git_repository* repo, const git_tree* tree, const std::filesystem::path& dir,
                const std::atomic<bool>* stop, int depth) {
  if (depth > max_tree_depth)
    throw git_failure("the repository nests directories deeper than " +
                          std::to_string(max_tree_depth),
                      false);
  for (std::size_t i = 0, n = git_tree_entrycount(tree); i < n; ++i) {
    if (stop && stop->load(std::memory_order_relaxed))
      throw git_failure("the analysis was stopped", false);
    const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
    std::string_view name = git_tree_entry_name(entry);
    if (!safe_name(name))
      throw git_failure("the repository holds a path that cannot be checked out safely: \"" +
                            std::string{name} + "\"",
                        false);
    auto path = dir / std::string{name};
    auto mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_TREE) {
      if (::mkdir(path.c_str(), 0755) != 0)
        throw git_failure("could not create " + std::string{name} + ": " + std::strerror(errno),
                          false);
      tree_h sub;
      if (git_tree_lookup(sub.out(), repo, git_tree_entry_id(entry)) != 0)
        throw git_failure("could not read a tree: " + last_error(), false);
      write_tree(repo, sub.get(), path, stop, depth + 1);
      continue;
    }
    if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE && mode != GIT_FILEMODE_LINK)
      continue; // a submodule's commit
    blob_h blob;
    if (git_blob_lookup(blob.out(), repo, git_tree_entry_id(entry)) != 0)
      throw git_failure("could not read a file: " + last_error(), false);
    if (mode == GIT_FILEMODE_LINK) {
      std::string target{static_cast<const char*>(git_blob_rawcontent(blob.get())),
                         static_cast<std::size_t>(git_blob_rawsize(blob.get()))};
      if (target.empty() || target.find('\0') != std::string::npos ||
          ::symlink(target.c_str(), path.c_str()) != 0)
        throw git_failure("could not create the link " + std::string{name}, false);
      continue;
    }
    write_blob(blob.get(), path, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
  }
}

} // namespace

fetch_result fetch(const fetch_request& request) {
  ensure_library();
  fetch_context ctx{&request};
  git_clone_options opts = GIT_CLONE_OPTIONS_INIT;
  opts.checkout_opts.checkout_strategy = GIT_CHECKOUT_NONE;
  opts.fetch_opts.callbacks.transfer_progress = on_transfer;
  opts.fetch_opts.callbacks.sideband_progress = on_sideband;
  opts.fetch_opts.callbacks.credentials = on_credentials;
  opts.fetch_opts.callbacks.payload = &ctx;
  repository_h repo;
  int rc = git_clone(repo.out(), request.url.c_str(), request.into.c_str(), &opts);
  if (ctx.stopped)
    throw git_failure("the analysis was stopped", false);
  auto too_large = [&] {
    return git_failure("the repository is larger than repository_analyzer.max_bytes (" +
                           std::to_string(request.max_bytes) + " bytes)",
                       false);
  };
  if (ctx.over_limit)
    throw too_large();
  if (rc != 0) {
    bool remote = is_remote(request.url);
    bool auth = rc == GIT_EAUTH;
    std::string why = last_error();
    if (auth)
      why = "the repository refused the credentials (or asked for some)";
    throw git_failure("could not fetch the repository: " + why,
                      remote && !auth && last_error_class() != GIT_ERROR_CALLBACK);
  }

  // A local clone copies objects without reporting transfer progress: the
  // limit is checked on what arrived, before anything is checked out.
  if (request.max_bytes > 0 && git_dir_bytes(request.into / ".git") > request.max_bytes)
    throw too_large();

  object_h commit;
  std::string kind = "default";
  if (request.ref.empty()) {
    if (git_revparse_single(commit.out(), repo.get(), "HEAD^{commit}") != 0)
      throw git_failure("the repository has no commit on its default branch", false);
  } else if (!resolve_ref(repo.get(), request.ref, commit, kind)) {
    throw git_failure("the ref \"" + request.ref +
                          "\" is not a branch, tag or commit of the repository",
                      false);
  }
  object_h tree;
  if (git_object_peel(tree.out(), commit.get(), GIT_OBJECT_TREE) != 0)
    throw git_failure("could not read the tree of " + (request.ref.empty() ? "HEAD" : request.ref) +
                          ": " + last_error(),
                      false);
  write_tree(repo.get(), reinterpret_cast<const git_tree*>(tree.get()), request.into, request.stop, 0);
  if (git_repository_set_head_detached(repo.get(), git_object_id(commit.get())) != 0)
    throw git_failure("could not check out " + (request.ref.empty() ? "HEAD" : request.ref) +
                          ": " + last_error(),
                      false);
  return {oid_text(git_object_id(commit.get())), kind, ctx.received_bytes, ctx.objects};
}

history_summary read_history(const std::filesystem::path& dir, int window,
                             const std::atomic<bool>& stop) {
  ensure_library();
  repository_h repo;
  if (git_repository_open(repo.out(), dir.c_str()) != 0)
    throw git_failure("could not open the checkout: " + last_error(), false);
  revwalk_h walk;
  if (git_revwalk_new(walk.out(), repo.get()) != 0 || git_revwalk_push_head(walk.get()) != 0)
    throw git_failure("could not walk the history: " + last_error(), false);
  git_revwalk_sorting(walk.get(), GIT_SORT_TIME);

  history_summary out;
  out.window = window;
  std::map<std::string, contributor> by_email;
  std::unordered_map<std::string, std::int64_t> changes;
  git_oid oid;
  while (git_revwalk_next(&oid, walk.get()) == 0) {
    if (stop.load(std::memory_order_relaxed))
      throw git_failure("the analysis was stopped", false);
    commit_h commit;
    if (git_commit_lookup(commit.out(), repo.get(), &oid) != 0)
      continue;
    const git_signature* author = git_commit_author(commit.get());
    std::string email = author && author->email ? author->email : "";
    auto& c = by_email[email];
    if (c.commits == 0) {
      c.email = email;
      c.name = author && author->name ? author->name : "";
    }
    ++c.commits;
    if (out.commits == 0) {
      out.last_commit_id = oid_text(&oid);
      out.last_commit_author = c.name;
      out.last_commit_time = rfc3339(git_commit_time(commit.get()));
      const char* summary = git_commit_summary(commit.get());
      out.last_commit_summary = summary ? summary : "";
    }
    if (out.commits < window) {
      // The files this commit changed, against its first parent (all of
      // them for a root commit).
      tree_h tree, parent_tree;
      commit_h parent;
      git_commit_tree(tree.out(), commit.get());
      if (git_commit_parentcount(commit.get()) > 0 &&
          git_commit_parent(parent.out(), commit.get(), 0) == 0)
        git_commit_tree(parent_tree.out(), parent.get());
      diff_h diff;
      if (git_diff_tree_to_tree(diff.out(), repo.get(), parent_tree.get(), tree.get(), nullptr) == 0)
        for (std::size_t i = 0; i < git_diff_num_deltas(diff.get()); ++i) {
          const git_diff_delta* d = git_diff_get_delta(diff.get(), i);
          const char* path = d->new_file.path ? d->new_file.path : d->old_file.path;
          if (path)
            ++changes[path];
        }
    }
    ++out.commits;
  }
  out.contributors = static_cast<std::int64_t>(by_email.size());
  for (auto& [email, c] : by_email)
    out.top_contributors.push_back(std::move(c));
  std::sort(out.top_contributors.begin(), out.top_contributors.end(),
            [](const contributor& a, const contributor& b) {
              return a.commits != b.commits ? a.commits > b.commits : a.email < b.email;
            });
  if (out.top_contributors.size() > 10)
    out.top_contributors.resize(10);
  for (auto& [path, n] : changes)
    out.most_changed.push_back({path, n});
  std::sort(out.most_changed.begin(), out.most_changed.end(),
            [](const changed_file& a, const changed_file& b) {
              return a.changes != b.changes ? a.changes > b.changes : a.path < b.path;
            });
  if (out.most_changed.size() > 20)
    out.most_changed.resize(20);
  return out;
}

} // namespace troupe::analyzer
