// Projects and repository analyses through the API (docs/analyzer.md), on
// repositories the test makes with git: the map of a multi-language
// repository asserted exactly, refs, limits, symlinks, local roots,
// credentials, schemes, failures and retries, cancel, tenancy.
#include "runtime/crypto.hpp"
#include "runtime/log.hpp"
#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <fstream>
#include <random>
#include <unistd.h>

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The roots the suite's node allows local repositories under.
temp_dir& roots() {
  static temp_dir dir;
  return dir;
}

std::string repos_root() { return roots().path() + "/repos"; }

int sh(const std::string& command) { return std::system(command.c_str()); }

std::string quote(const std::string& s) { return "'" + s + "'"; }

// A git repository under the allowed root, built commit by commit.
class repo {
public:
  explicit repo(const std::string& name) : path_(repos_root() + "/" + name) {
    fs::create_directories(path_);
    git("init -q -b main");
    // No background `gc --auto` after a commit of thousands of files: it
    // would repack the objects while the analysis clones them.
    git("config gc.auto 0");
  }
  const std::string& path() const { return path_; }

  void write(const std::string& rel, const std::string& text) {
    auto p = fs::path{path_} / rel;
    fs::create_directories(p.parent_path());
    std::ofstream{p, std::ios::binary} << text;
  }

  void commit(const std::string& message, const std::string& author = "Ada",
              const std::string& email = "ada@example.com") {
    git("add -A");
    auto who = "GIT_AUTHOR_NAME=" + quote(author) + " GIT_AUTHOR_EMAIL=" + quote(email) +
               " GIT_COMMITTER_NAME=" + quote(author) + " GIT_COMMITTER_EMAIL=" + quote(email) + " ";
    ASSERT_EQ(sh(who + "git -C " + quote(path_) + " commit -q -m " + quote(message)), 0);
  }

  void git(const std::string& args) {
    ASSERT_EQ(sh("git -C " + quote(path_) + " " + args + " >/dev/null 2>&1"), 0) << args;
  }

  std::string head(const std::string& rev = "HEAD") const {
    std::string out;
    auto* p = popen(("git -C " + quote(path_) + " rev-parse " + rev).c_str(), "r");
    char buf[128];
    while (p && fgets(buf, sizeof buf, p))
      out += buf;
    if (p)
      pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
      out.pop_back();
    return out;
  }

private:
  std::string path_;
};

class Analyzer : public node_suite<Analyzer> {
public:
  static void configure(config::settings& s) {
    fs::create_directories(repos_root());
    s.repository_analyzer.allowed_local_roots = repos_root();
    s.repository_analyzer.max_files = 5000;
    s.jobs.heartbeat_ms = 100;      // a cancel reaches a running analysis at once
    s.jobs.backoff_base_ms = 10;    // retries of a failed fetch come quickly
    s.jobs.backoff_max_ms = 20;
    s.jobs.max_attempts = 2;
  }

protected:
  user u = make_user(address());
  http_client c{address()};

  response create(const std::string& url, const std::string& ref = "",
                  const std::string& name = "project") {
    json body = {{"name", name}, {"repository_url", url}};
    if (!ref.empty())
      body["ref"] = ref;
    return c.send("POST", "/v1/projects", body.dump(), u.auth());
  }

  // The project once its newest analysis ended (completed, failed or cancelled).
  json settled(const std::string& id) {
    json project;
    EXPECT_TRUE(eventually(
        [&] {
          project = c.send("GET", "/v1/projects/" + id, "", u.auth()).doc();
          auto status = project["latest_job"]["status"];
          return status == "completed" || status == "failed" || status == "cancelled";
        },
        60s))
        << project.dump();
    return project;
  }

  json map_of(const std::string& id) {
    auto r = c.send("GET", "/v1/projects/" + id + "/system-map", "", u.auth());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.doc();
  }

  long long projects_of(const user& who) {
    return scalar(shared_database().conninfo(),
                  "SELECT count(*) FROM projects WHERE user_id = '" + who.id + "'");
  }
};

} // namespace

TEST_F(Analyzer, AMultiLanguageRepositoryIsMappedExactly) {
  repo r{"multi"};
  r.write("README.md", "# Multi\n\nMulti is a small system\nin three languages.\n");
  r.write("CMakeLists.txt", "project(multi)\nfind_package(ZLIB REQUIRED)\n");
  r.write("core/CMakeLists.txt", "add_library(core core.cpp)\n");
  r.write("core/core.hpp", "#pragma once\nint core();\n");
  r.write("core/core.cpp", "#include \"core.hpp\"\n// the answer\nint core() { return 42; }\n");
  r.write("app/main.cpp", "#include \"core/core.hpp\"\n\nint main() { return core(); }\n");
  r.commit("core and app");
  r.write("web/package.json", R"({"name": "web", "main": "index.js", "dependencies": {"left-pad": "1.3.0"}})");
  r.write("web/index.js", "const shared = require('shared');\nmodule.exports = shared;\n");
  r.write("shared/package.json", R"({"name": "shared"})");
  r.write("shared/index.js", "module.exports = {};\n");
  r.commit("web and shared", "Grace", "grace@example.com");
  r.write("tools/requirements.txt", "requests==2.31.0\n");
  r.write("tools/run.py", "#!/usr/bin/env python3\nimport json\n\nif __name__ == \"__main__\":\n"
                          "    print(json.dumps({}))\n");
  r.write("core/core.cpp", "#include \"core.hpp\"\n// the answer\nint core() { return 43; }\n");
  r.commit("tools; a new answer");

  auto created = create(r.path());
  ASSERT_EQ(created.status, 201) << created.body;
  auto project = created.doc();
  EXPECT_EQ(project["status"], "pending");
  EXPECT_EQ(project["repository_url"], r.path());
  EXPECT_EQ(project["latest_job"]["kind"], "repository_analysis");
  std::string id = project["id"];

  project = settled(id);
  ASSERT_EQ(project["latest_job"]["status"], "completed") << project.dump();
  EXPECT_EQ(project["status"], "ready");
  EXPECT_EQ(project["has_system_map"], true);
  auto map = map_of(id);

  EXPECT_EQ(map["schema"], "troupe.system_map/1");
  EXPECT_EQ(map["repository"]["commit"], r.head());
  EXPECT_EQ(map["repository"]["ref_kind"], "default");
  EXPECT_EQ(map["totals"]["files"], 12);
  json languages = json::array();
  for (const auto& l : map["languages"])
    languages.push_back({l["name"], l["files"], l["code"], l["comment"], l["blank"]});
  // Most code first, then by name; cloc's names and counts.
  EXPECT_EQ(languages, json::parse(R"([
    ["C++", 2, 4, 1, 1], ["Python", 1, 4, 0, 1], ["CMake", 2, 3, 0, 0],
    ["JavaScript", 2, 3, 0, 0], ["Markdown", 1, 3, 0, 1], ["C/C++ Header", 1, 2, 0, 0],
    ["JSON", 2, 2, 0, 0], ["Text", 1, 1, 0, 0]])"));
  json modules = json::array();
  for (const auto& m : map["modules"])
    modules.push_back({m["path"], m["manifests"]});
  EXPECT_EQ(modules, json::parse(R"([
    [".", ["CMakeLists.txt"]], ["core", ["core/CMakeLists.txt"]],
    ["shared", ["shared/package.json"]], ["tools", ["tools/requirements.txt"]],
    ["web", ["web/package.json"]]])"));
  EXPECT_EQ(map["dependencies"], json::parse(R"([
    {"from": ".", "to": "core", "imports": 1}, {"from": "web", "to": "shared", "imports": 1}])"));
  json external = json::array();
  for (const auto& e : map["external_dependencies"])
    external.push_back({e["module"], e["ecosystem"], e["name"], e["version"]});
  EXPECT_EQ(external, json::parse(R"([
    [".", "cmake", "ZLIB", ""], ["tools", "python", "requests", "==2.31.0"],
    ["web", "npm", "left-pad", "1.3.0"]])"));
  EXPECT_EQ(map["entry_points"], json::parse(R"([
    {"path": "app/main.cpp", "kind": "main"}, {"path": "tools/run.py", "kind": "python-main"},
    {"path": "web/index.js", "kind": "package-main"}])"));
  EXPECT_EQ(map["readme"]["summary"], "Multi is a small system in three languages.");

  const auto& history = map["history"];
  EXPECT_EQ(history["commits"], 3);
  EXPECT_EQ(history["contributors"], 2);
  EXPECT_EQ(history["last_commit"]["id"], r.head());
  EXPECT_EQ(history["last_commit"]["summary"], "tools; a new answer");
  EXPECT_EQ(history["top_contributors"][0]["email"], "ada@example.com");
  EXPECT_EQ(history["top_contributors"][0]["commits"], 2);
  EXPECT_EQ(history["most_changed"][0], json({{"path", "core/core.cpp"}, {"changes", 2}}));

  // The module graph as Mermaid, for a person to paste.
  auto graph = c.send("GET", "/v1/projects/" + id + "/system-map?format=mermaid", "", u.auth());
  ASSERT_EQ(graph.status, 200);
  EXPECT_NE(graph.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_EQ(graph.body, "graph LR\n  m0[\".\"]\n  m1[\"core\"]\n  m2[\"shared\"]\n"
                        "  m3[\"tools\"]\n  m4[\"web\"]\n  m0 -->|1| m1\n  m4 -->|1| m2\n");
  EXPECT_EQ(c.send("GET", "/v1/projects/" + id + "/system-map?format=svg", "", u.auth()).status,
            400);

  // Progress per phase and repository.analyzed, in the event log.
  auto job = project["latest_job"]["id"].get<std::string>();
  EXPECT_EQ(scalar(shared_database().conninfo(),
                   "SELECT count(*) FROM events WHERE job_id = '" + job +
                       "' AND topic = 'job.progress' AND data->'progress'->>'step' IN"
                       " ('fetch', 'analyse', 'history')"),
            3);
  EXPECT_EQ(scalar(shared_database().conninfo(),
                   "SELECT count(*) FROM events WHERE topic = 'repository.analyzed'"
                   " AND data->>'project_id' = '" + id + "'"),
            1);
  // Nothing is left in the scratch directory.
  EXPECT_TRUE(fs::is_empty(fs::path{node_->settings.database.data_dir} / "analyzer"));
}

TEST_F(Analyzer, ABranchATagAndACommitAreCheckedOut) {
  repo r{"refs"};
  r.write("a.py", "a = 1\n");
  r.commit("one");
  auto first = r.head();
  r.git("tag v1");
  r.write("b.py", "b = 2\n");
  r.commit("two");
  r.git("checkout -q -b feature");
  r.write("c.py", "c = 3\n");
  r.commit("three");
  auto feature = r.head();
  r.git("checkout -q main");

  struct expectation {
    std::string ref, kind, commit;
    int files;
  };
  for (const auto& e : {expectation{"feature", "branch", feature, 3},
                        expectation{"v1", "tag", first, 1},
                        expectation{first.substr(0, 10), "commit", first, 1}}) {
    auto created = create(r.path(), e.ref);
    ASSERT_EQ(created.status, 201) << created.body;
    std::string id = created.doc()["id"];
    auto project = settled(id);
    ASSERT_EQ(project["latest_job"]["status"], "completed") << project.dump();
    auto map = map_of(id);
    EXPECT_EQ(map["repository"]["ref"], e.ref);
    EXPECT_EQ(map["repository"]["ref_kind"], e.kind) << e.ref;
    EXPECT_EQ(map["repository"]["commit"], e.commit) << e.ref;
    EXPECT_EQ(map["totals"]["files"], e.files) << e.ref;
  }

  // A ref that is none of them fails the job at once, naming it.
  auto created = create(r.path(), "no-such-branch");
  ASSERT_EQ(created.status, 201);
  auto project = settled(created.doc()["id"]);
  EXPECT_EQ(project["latest_job"]["status"], "failed");
  EXPECT_EQ(project["latest_job"]["attempt"], 1); // not retried
  EXPECT_NE(project["latest_job"]["error"].get<std::string>().find("no-such-branch"),
            std::string::npos);
  EXPECT_EQ(project["status"], "failed");
  EXPECT_EQ(c.send("GET", "/v1/projects/" + project["id"].get<std::string>() + "/system-map", "",
                   u.auth())
                .status,
            404);

  // Refs that could be options or escapes are refused before anything is stored.
  auto before = projects_of(u);
  for (const char* bad : {"-upload-pack=x", "../main", "a..b", "/abs", "x y", ""})
    EXPECT_EQ(create(r.path(), bad == std::string{} ? std::string{} : std::string{bad}).status,
              bad == std::string{} ? 201 : 400)
        << bad;
  EXPECT_EQ(projects_of(u), before + 1); // only the one without a ref
}

TEST_F(Analyzer, ARepositoryOverMaxFilesFailsClearly) {
  repo r{"many"};
  for (int i = 0; i < 5001; ++i)
    r.write("f/" + std::to_string(i) + ".txt", std::to_string(i) + "\n");
  r.commit("many files");
  auto created = create(r.path());
  ASSERT_EQ(created.status, 201);
  auto project = settled(created.doc()["id"]);
  EXPECT_EQ(project["latest_job"]["status"], "failed");
  EXPECT_EQ(project["latest_job"]["attempt"], 1);
  EXPECT_NE(project["latest_job"]["error"].get<std::string>().find("max_files"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(fs::path{node_->settings.database.data_dir} / "analyzer"));
}

TEST_F(Analyzer, SymlinksInTheCheckoutAreNeverFollowed) {
  temp_dir outside;
  std::ofstream{outside.path() + "/secret.cpp"} << "int leaked_secret = 1;\nint more = 2;\n";
  repo r{"links"};
  r.write("main.cpp", "int main() {}\n");
  fs::create_symlink(outside.path() + "/secret.cpp", r.path() + "/leak.cpp");
  fs::create_symlink("/etc/passwd", r.path() + "/passwd.txt");
  fs::create_directory_symlink("../..", r.path() + "/up");
  r.commit("links");
  auto created = create(r.path());
  ASSERT_EQ(created.status, 201);
  auto id = created.doc()["id"].get<std::string>();
  auto project = settled(id);
  ASSERT_EQ(project["latest_job"]["status"], "completed") << project.dump();
  auto map = map_of(id);
  EXPECT_EQ(map["totals"]["symlinks"], 3);
  EXPECT_EQ(map["totals"]["files"], 1);
  ASSERT_EQ(map["languages"].size(), 1u);
  EXPECT_EQ(map["languages"][0]["code"], 1); // main.cpp alone: nothing read through a link
}

TEST_F(Analyzer, LocalPathsOutsideTheRootsAreRefused) {
  temp_dir elsewhere;
  repo inside{"inside"};
  inside.write("x.txt", "x\n");
  inside.commit("x");
  fs::create_directories(elsewhere.path() + "/repo");
  sh("git init -q " + quote(elsewhere.path() + "/repo"));
  fs::create_directory_symlink(elsewhere.path() + "/repo", repos_root() + "/escape-link");
  auto before = projects_of(u);
  auto name = fs::path{elsewhere.path()}.filename().string(); // both are in /tmp
  for (const auto& url :
       {std::string{"/etc"}, elsewhere.path() + "/repo",
        repos_root() + "/../../" + name + "/repo",
        repos_root() + "/inside/../../../" + name + "/repo", repos_root() + "/escape-link",
        "file://" + elsewhere.path() + "/repo", "file://" + repos_root() + "/../../" + name,
        repos_root() + "/does-not-exist"}) {
    auto r = create(url);
    EXPECT_EQ(r.status, 400) << url << " " << r.body;
    EXPECT_EQ(r.doc()["error"]["details"]["field"], "repository_url") << url;
  }
  EXPECT_EQ(projects_of(u), before);
  // Inside the root, with .. that stays inside, it is taken (resolved).
  auto ok = create(repos_root() + "/inside/../inside");
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.doc()["repository_url"], fs::canonical(inside.path()).string());
  auto file_url = create("file://" + inside.path());
  EXPECT_EQ(file_url.status, 201) << file_url.body;
}

TEST_F(Analyzer, UnsupportedSchemesAreRefused) {
  auto before = projects_of(u);
  for (const char* url : {"ssh://git@example.com/x.git", "git@example.com:x.git",
                          "ftp://example.com/x", "relative/path", "javascript:alert(1)",
                          "https://", "https://exa mple.com/x", "https://example.com/x#frag",
                          "git://user:pw@example.com/x", "HTTPS://example.com/x"}) {
    auto r = create(url);
    EXPECT_EQ(r.status, 400) << url << " " << r.body;
  }
  EXPECT_EQ(create("").status, 400);
  EXPECT_EQ(c.send("POST", "/v1/projects", R"({"name": "x"})", u.auth()).status, 400);
  EXPECT_EQ(c.send("POST", "/v1/projects", R"({"name": "x", "repository_url": 5})", u.auth()).status,
            400);
  EXPECT_EQ(c.send("POST", "/v1/projects",
                   R"({"name": "x", "repository_url": "https://example.com/x", "extra": 1})",
                   u.auth())
                .status,
            400);
  EXPECT_EQ(projects_of(u), before);
}

// Credentials in a URL are used for the fetch only: the stored and shown
// URL has none, the database holds them sealed, no log line or error has
// them. The host is unreachable: the job is retried, then fails clearly.
TEST_F(Analyzer, CredentialsAreNeverShownStoredOrLoggedAndAnUnreachableHostIsRetried) {
  const std::string secret = "s3cr3t-" + crypto::random_hex(8);
  // Everything the node logs while this test runs, at debug.
  temp_dir logs;
  auto log_path = logs.path() + "/stderr.log";
  int saved = dup(2);
  int fd = ::open(log_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  dup2(fd, 2);
  log::set_level(log::level::debug);

  auto created = create("https://robot:" + secret + "@127.0.0.1:1/team/repo.git");
  json project;
  if (created.status == 201)
    project = settled(created.doc()["id"]);

  log::set_level(log::level::warn);
  fflush(stderr);
  dup2(saved, 2);
  ::close(fd);
  ::close(saved);

  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.body.find(secret), std::string::npos);
  EXPECT_EQ(created.doc()["repository_url"], "https://127.0.0.1:1/team/repo.git");
  EXPECT_EQ(project["latest_job"]["status"], "failed");
  EXPECT_EQ(project["latest_job"]["attempt"], 2); // retried, then failed
  auto error = project["latest_job"]["error"].get<std::string>();
  EXPECT_NE(error.find("could not fetch"), std::string::npos) << error;
  EXPECT_EQ(project.dump().find(secret), std::string::npos);
  std::string id = project["id"];
  auto listed = c.send("GET", "/v1/projects", "", u.auth());
  EXPECT_EQ(listed.body.find(secret), std::string::npos);
  auto job = c.send("GET", "/v1/jobs/" + project["latest_job"]["id"].get<std::string>(), "", u.auth());
  EXPECT_EQ(job.status, 200);
  EXPECT_EQ(job.body.find(secret), std::string::npos);

  auto db = shared_database().conninfo();
  for (const char* table : {"projects", "jobs", "events", "system_maps"})
    EXPECT_EQ(scalar(db, std::string{"SELECT count(*) FROM "} + table + " t WHERE t::text LIKE '%" +
                             secret + "%'"),
              0)
        << table;
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM projects WHERE id = '" + id +
                           "' AND credentials IS NOT NULL"),
            1); // sealed, not dropped: a retry needs them

  std::ifstream in{log_path};
  std::string logged((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(logged.empty()); // the capture worked: the debug log saw the requests
  EXPECT_EQ(logged.find(secret), std::string::npos);
}

TEST_F(Analyzer, APathThatIsAFileFailsWithoutRetries) {
  std::ofstream{repos_root() + "/a-file.txt"} << "not a repository\n";
  auto created = create(repos_root() + "/a-file.txt");
  ASSERT_EQ(created.status, 201) << created.body;
  auto project = settled(created.doc()["id"]);
  EXPECT_EQ(project["latest_job"]["status"], "failed");
  EXPECT_EQ(project["latest_job"]["attempt"], 1);
  EXPECT_NE(project["latest_job"]["error"].get<std::string>().find("could not fetch"),
            std::string::npos);
}

TEST_F(Analyzer, AnalysesInARowMakeNewMapsAndOnlyOneRunsAtATime) {
  repo r{"again"};
  r.write("one.go", "package main\n\nfunc main() {}\n");
  r.commit("one");
  auto created = create(r.path());
  ASSERT_EQ(created.status, 201);
  std::string id = created.doc()["id"];
  auto first_job = created.doc()["latest_job"]["id"].get<std::string>();
  // While the first is queued or running, asking again answers that one.
  auto again = c.send("POST", "/v1/projects/" + id + "/analyze", "", u.auth());
  ASSERT_EQ(again.status, 202) << again.body;
  if (again.doc()["is_new"] == false) {
    EXPECT_EQ(again.doc()["job_id"], first_job);
  }
  settled(id);
  EXPECT_EQ(map_of(id)["totals"]["files"], 1);

  r.write("two.go", "package two\n");
  r.commit("two");
  auto second = c.send("POST", "/v1/projects/" + id + "/analyze", "", u.auth());
  ASSERT_EQ(second.status, 202) << second.body;
  EXPECT_EQ(second.doc()["is_new"], true);
  auto project = settled(id);
  EXPECT_EQ(project["latest_job"]["id"], second.doc()["job_id"]);
  EXPECT_EQ(project["latest_job"]["status"], "completed");
  EXPECT_EQ(map_of(id)["totals"]["files"], 2); // the newest map
  EXPECT_EQ(map_of(id)["repository"]["commit"], r.head());
  EXPECT_GE(scalar(shared_database().conninfo(),
                   "SELECT count(*) FROM system_maps WHERE project_id = '" + id + "'"),
            2);
  EXPECT_EQ(c.send("POST", "/v1/projects/" + id + "/analyze", R"({"x": 1})", u.auth()).status, 400);
}

TEST_F(Analyzer, AnAnalysisIsCancelledMidway) {
  repo r{"big"};
  for (int i = 0; i < 4000; ++i)
    r.write("src/" + std::to_string(i % 40) + "/f" + std::to_string(i) + ".py",
            "import os\n\ndef f" + std::to_string(i) + "():\n    return " + std::to_string(i) + "\n");
  r.commit("big");
  auto created = create(r.path());
  ASSERT_EQ(created.status, 201);
  std::string id = created.doc()["id"];
  std::string job = created.doc()["latest_job"]["id"];
  ASSERT_TRUE(eventually([&] {
    return c.send("GET", "/v1/jobs/" + job, "", u.auth()).doc()["status"] == "running";
  }));
  auto cancelled = c.send("POST", "/v1/jobs/" + job + "/cancel", "", u.auth());
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  auto project = settled(id);
  EXPECT_EQ(project["latest_job"]["status"], "cancelled") << project.dump();
  EXPECT_EQ(c.send("GET", "/v1/projects/" + id + "/system-map", "", u.auth()).status, 404);
  EXPECT_TRUE(fs::is_empty(fs::path{node_->settings.database.data_dir} / "analyzer"));
}

TEST_F(Analyzer, AnotherUserSeesNoneOfIt) {
  repo r{"private"};
  r.write("x.rs", "fn main() {}\n");
  r.commit("x");
  auto created = create(r.path());
  ASSERT_EQ(created.status, 201);
  std::string id = created.doc()["id"];
  settled(id);
  auto b = make_user(address());
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/projects/" + id},
           {"GET", "/v1/projects/" + id + "/system-map"},
           {"GET", "/v1/projects/" + id + "/system-map?format=mermaid"},
           {"POST", "/v1/projects/" + id + "/analyze"}})
    EXPECT_EQ(c.send(method, path, "", b.auth()).status, 404) << method << " " << path;
  EXPECT_EQ(c.send("GET", "/v1/projects", "", b.auth()).doc()["items"].size(), 0u);
  // A read-only key reads, and may not create or analyse.
  auto key = make_key(address(), u, {"projects:read"});
  EXPECT_EQ(c.send("GET", "/v1/projects/" + id + "/system-map", "", bearer(key)).status, 200);
  EXPECT_EQ(c.send("POST", "/v1/projects/" + id + "/analyze", "", bearer(key)).status, 403);
}

// The run-time limit of an analysis attempt stops it like a cancel and fails
// it with the limit named (a node of its own: the limit is a node setting).
TEST(AnalyzerLimits, AnAnalysisOverItsRunTimeFailsNamingTheLimit) {
  test_node n{shared_database().conninfo(), [](config::settings& s) {
                fs::create_directories(repos_root());
                s.repository_analyzer.allowed_local_roots = repos_root();
                s.jobs.repository_analysis_max_run_time_s = 1;
                s.repository_analyzer.max_files = 1000000;
                s.jobs.heartbeat_ms = 100;
                s.jobs.max_attempts = 1;
              }};
  // 200,000 files in one commit, made with git fast-import (one blob, many
  // paths): checking them out and reading them takes several seconds on any
  // machine, far past the 1 s limit, and both stop at the next file.
  repo r{"slow"};
  {
    std::ofstream stream{r.path() + "/../slow.import"};
    std::string blob = "import x from './other';\nexport default 1;\n";
    stream << "blob\nmark :1\ndata " << blob.size() << "\n" << blob << "\n"
           << "commit refs/heads/main\nauthor Ada <ada@example.com> 1700000000 +0000\n"
           << "committer Ada <ada@example.com> 1700000000 +0000\ndata 4\nslow\n";
    for (int i = 0; i < 200000; ++i)
      stream << "M 100644 :1 src/" << i % 400 << "/f" << i << ".js\n";
  }
  r.git("fast-import --quiet < " + quote(r.path() + "/../slow.import"));
  auto u = make_user(n.address());
  http_client c{n.address()};
  auto created = c.send("POST", "/v1/projects",
                        json{{"name", "slow"}, {"repository_url", r.path()}}.dump(), u.auth());
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.doc()["id"];
  json project;
  ASSERT_TRUE(eventually(
      [&] {
        project = c.send("GET", "/v1/projects/" + id, "", u.auth()).doc();
        auto status = project["latest_job"]["status"];
        return status == "failed" || status == "completed";
      },
      60s));
  EXPECT_EQ(project["latest_job"]["status"], "failed") << project.dump();
  EXPECT_NE(project["latest_job"]["error"].get<std::string>().find(
                "repository_analysis_max_run_time_s"),
            std::string::npos)
      << project.dump();
  EXPECT_TRUE(fs::is_empty(fs::path{n.settings.database.data_dir} / "analyzer"));
}

// A repository over repository_analyzer.max_bytes fails before anything is
// checked out (a local clone reports no transfer: the limit is checked on
// what arrived).
TEST(AnalyzerLimits, ARepositoryOverMaxBytesFailsClearly) {
  test_node n{shared_database().conninfo(), [](config::settings& s) {
                fs::create_directories(repos_root());
                s.repository_analyzer.allowed_local_roots = repos_root();
                s.repository_analyzer.max_bytes = 1 << 20;
                s.jobs.max_attempts = 2;
              }};
  repo r{"heavy"};
  std::string noise;
  std::mt19937_64 rng{15};
  for (int i = 0; i < (3 << 20) / 8; ++i) { // 3 MiB that does not compress
    auto v = rng();
    noise.append(reinterpret_cast<const char*>(&v), 8);
  }
  r.write("blob.bin", noise);
  r.commit("heavy");
  auto u = make_user(n.address());
  http_client c{n.address()};
  auto created = c.send("POST", "/v1/projects",
                        json{{"name", "heavy"}, {"repository_url", r.path()}}.dump(), u.auth());
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.doc()["id"];
  json project;
  ASSERT_TRUE(eventually([&] {
    project = c.send("GET", "/v1/projects/" + id, "", u.auth()).doc();
    auto status = project["latest_job"]["status"];
    return status == "failed" || status == "completed";
  }));
  EXPECT_EQ(project["latest_job"]["status"], "failed") << project.dump();
  EXPECT_EQ(project["latest_job"]["attempt"], 1); // not retried: it will not shrink
  EXPECT_NE(project["latest_job"]["error"].get<std::string>().find("max_bytes"), std::string::npos);
}
