#include "config/settings.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include <unistd.h>

namespace troupe::config {
namespace {

using env_map = std::map<std::string, std::string>;

load_result from_text(const std::string& text, const env_map& env = {},
                      const override_list& flags = {}) {
  return load_text(text, "test.toml", env, flags);
}

// Loads and expects success, failing the test with the error message otherwise.
settings loaded(const std::string& text, const env_map& env = {},
                const override_list& flags = {}) {
  auto result = from_text(text, env, flags);
  EXPECT_FALSE(result.error) << result.error->message;
  EXPECT_TRUE(result.value);
  return result.value.value_or(settings{});
}

std::string error_of(const load_result& result) {
  EXPECT_FALSE(result.value);
  EXPECT_TRUE(result.error) << "expected an error";
  return result.error ? result.error->message : std::string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class temp_file {
public:
  explicit temp_file(const std::string& content)
      : path_(std::filesystem::temp_directory_path() /
              ("troupe_config_test_" + std::to_string(::getpid()) + ".toml")) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~temp_file() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

private:
  std::filesystem::path path_;
};

TEST(ConfigDefaults, EmptyInputGivesHeaderDefaults) {
  settings s = loaded("");
  settings d;
  EXPECT_EQ(s.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(s.server.io_threads, d.server.io_threads);
  EXPECT_EQ(s.server.max_body_bytes, 1 << 20);
  EXPECT_EQ(s.database.url, "");
  EXPECT_EQ(s.database.pool_size, 8);
  EXPECT_FALSE(s.auth.allow_registration);
  EXPECT_EQ(s.auth.refresh_token_ttl_s, 7 * 24 * 3600);
  EXPECT_EQ(s.playbooks.max_content_bytes, 512 * 1024);
  EXPECT_EQ(s.log.level, "info");
  EXPECT_EQ(s.log.format, "json");
  EXPECT_EQ(effective_toml(s), effective_toml(d));
}

TEST(ConfigDefaults, NoFileMeansDefaults) {
  auto result = load("", {}, {});
  ASSERT_TRUE(result.value) << result.error->message;
  EXPECT_EQ(effective_toml(*result.value), effective_toml(settings{}));
}

TEST(ConfigFile, OverridesDefaults) {
  settings s = loaded(R"(
[server]
listen = "0.0.0.0:9000"
io_threads = 4
max_body_bytes = 2048

[database]
url = "postgresql://troupe@db.internal/troupe"

[auth]
allow_registration = true

[log]
level = "debug"
format = "text"
)");
  EXPECT_EQ(s.server.listen, "0.0.0.0:9000");
  EXPECT_EQ(s.server.io_threads, 4);
  EXPECT_EQ(s.server.max_body_bytes, 2048);
  EXPECT_EQ(s.database.url, "postgresql://troupe@db.internal/troupe");
  EXPECT_TRUE(s.auth.allow_registration);
  EXPECT_EQ(s.log.level, "debug");
  EXPECT_EQ(s.log.format, "text");
  EXPECT_EQ(s.database.pool_size, 8) << "keys not in the file keep their defaults";
}

TEST(ConfigFile, DottedKeysAreAccepted) {
  EXPECT_EQ(loaded("server.io_threads = 3\n").server.io_threads, 3);
}

TEST(ConfigFile, LoadsFromDisk) {
  temp_file file("[database]\npool_size = 16\n");
  auto result = load(file.path(), {}, {});
  ASSERT_TRUE(result.value) << result.error->message;
  EXPECT_EQ(result.value->database.pool_size, 16);
}

TEST(ConfigFile, ErrorsNameTheFileOnDisk) {
  temp_file file("[database]\npool_size = 0\n");
  auto message = error_of(load(file.path(), {}, {}));
  EXPECT_NE(message.find(file.path() + ":2"), std::string::npos) << message;
}

TEST(ConfigFile, MissingFileIsAClearError) {
  auto message = error_of(load("/nonexistent/troupe.toml", {}, {}));
  EXPECT_NE(message.find("/nonexistent/troupe.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(ConfigFile, UnknownKeyNamesKeyAndLine) {
  auto message = error_of(from_text("[server]\nio_threads = 2\nlisten_port = 80\n"));
  EXPECT_NE(message.find("server.listen_port"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:3"), std::string::npos) << message;
}

TEST(ConfigFile, UnknownSectionNamesSectionAndLine) {
  auto message = error_of(from_text("\n[servre]\nio_threads = 2\n"));
  EXPECT_NE(message.find("servre"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:2"), std::string::npos) << message;
}

TEST(ConfigFile, NestedTableInSectionIsUnknownKey) {
  auto message = error_of(from_text("[server.tls]\ncert = \"x\"\n"));
  EXPECT_NE(message.find("server.tls"), std::string::npos) << message;
}

TEST(ConfigFile, SectionThatIsNotATable) {
  auto message = error_of(from_text("server = 3\n"));
  EXPECT_NE(message.find("server"), std::string::npos) << message;
  EXPECT_NE(message.find("table"), std::string::npos) << message;
}

TEST(ConfigFile, FirstProblemInFileOrderIsReported) {
  // toml++ iterates keys alphabetically; the report must still follow the file.
  auto message = error_of(from_text("[server]\nzzz = 1\naaa = 2\n"));
  EXPECT_NE(message.find("server.zzz"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:2"), std::string::npos) << message;
}

TEST(ConfigFile, WrongTypeNamesKeyExpectedTypeAndLine) {
  auto message = error_of(from_text("[server]\n\nio_threads = \"four\"\n"));
  EXPECT_NE(message.find("server.io_threads"), std::string::npos) << message;
  EXPECT_NE(message.find("expected integer"), std::string::npos) << message;
  EXPECT_NE(message.find("got string"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:3"), std::string::npos) << message;

  message = error_of(from_text("[auth]\nallow_registration = 1\n"));
  EXPECT_NE(message.find("expected boolean"), std::string::npos) << message;

  message = error_of(from_text("[server]\nio_threads = 2.0\n"));
  EXPECT_NE(message.find("expected integer"), std::string::npos) << message;
}

TEST(ConfigFile, OutOfRangeNamesKeyRangeAndLine) {
  auto message = error_of(from_text("[server]\nio_threads = 65\n"));
  EXPECT_NE(message.find("server.io_threads"), std::string::npos) << message;
  EXPECT_NE(message.find("1..64"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:2"), std::string::npos) << message;

  message = error_of(from_text("[server]\nmax_body_bytes = 1023\n"));
  EXPECT_NE(message.find("1024..67108864"), std::string::npos) << message;
}

TEST(ConfigFile, RangeBoundsAreInclusive) {
  settings s = loaded("[server]\nio_threads = 64\nshutdown_grace_s = 0\n");
  EXPECT_EQ(s.server.io_threads, 64);
  EXPECT_EQ(s.server.shutdown_grace_s, 0);
}

TEST(ConfigFile, BadEnumValue) {
  auto message = error_of(from_text("[log]\nlevel = \"verbose\"\n"));
  EXPECT_NE(message.find("log.level"), std::string::npos) << message;
  EXPECT_NE(message.find("trace|debug|info|warn|error"), std::string::npos) << message;

  message = error_of(from_text("[log]\nformat = \"xml\"\n"));
  EXPECT_NE(message.find("log.format"), std::string::npos) << message;
}

TEST(ConfigFile, SyntaxErrorMentionsFileAndLine) {
  auto message = error_of(from_text("[server]\nio_threads = 2\nlisten = \"unterminated\n"));
  EXPECT_NE(message.find("test.toml:3"), std::string::npos) << message;
  EXPECT_NE(message.find("syntax"), std::string::npos) << message;
}

TEST(ConfigValidation, ListenAddresses) {
  for (const char* good : {"127.0.0.1:8080", "0.0.0.0:0", "localhost:65535", "[::1]:443",
                           "[::]:80", "[2001:db8::1]:8080"})
    EXPECT_TRUE(from_text("", {}, {{"server.listen", good}}).value) << good;

  for (const char* bad : {"127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", ":8080",
                          "example.com:80", "::1:80", "[::1]80", "[nonsense]:80",
                          "256.0.0.1:80", "127.0.0.1:80x", "localhost:"}) {
    auto message = error_of(from_text("", {}, {{"server.listen", bad}}));
    EXPECT_NE(message.find("server.listen"), std::string::npos) << bad << ": " << message;
  }
}

TEST(ConfigValidation, BadListenInFileNamesLine) {
  auto message = error_of(from_text("[server]\nlisten = \"8080\"\n"));
  EXPECT_NE(message.find("server.listen"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:2"), std::string::npos) << message;
}

TEST(ConfigValidation, DatabaseUrl) {
  for (const char* good : {"", "postgres://u:p@h/db", "postgresql://h", "host=h dbname=d"})
    EXPECT_TRUE(from_text("", {}, {{"database.url", good}}).value) << good;

  auto message = error_of(from_text("", {}, {{"database.url", "mysql://u:hunter2@h/db"}}));
  EXPECT_NE(message.find("database.url"), std::string::npos) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << "a bad URL must not leak: " << message;
}

TEST(ConfigEnv, OverridesFile) {
  settings s = loaded("[server]\nio_threads = 4\nlisten = \"127.0.0.1:1\"\n",
                      {{"TROUPE_SERVER_IO_THREADS", "8"},
                       {"TROUPE_DATABASE_URL", "postgres://h/db"},
                       {"TROUPE_AUTH_ALLOW_REGISTRATION", "yes"},
                       {"TROUPE_LOG_LEVEL", "warn"}});
  EXPECT_EQ(s.server.io_threads, 8);
  EXPECT_EQ(s.server.listen, "127.0.0.1:1") << "file values the environment leaves alone stay";
  EXPECT_EQ(s.database.url, "postgres://h/db");
  EXPECT_TRUE(s.auth.allow_registration);
  EXPECT_EQ(s.log.level, "warn");
}

TEST(ConfigEnv, UnrelatedVariablesAreIgnored) {
  settings s = loaded("", {{"PATH", "/bin"}, {"HOME", "/root"}, {"troupe_log_level", "x"}});
  EXPECT_EQ(s.log.level, "info");
}

TEST(ConfigEnv, UnknownTroupeVariableIsAnError) {
  auto message = error_of(from_text("", {{"TROUPE_SERVER_THREADS", "4"}}));
  EXPECT_NE(message.find("TROUPE_SERVER_THREADS"), std::string::npos) << message;
}

// Found by the config fuzz target: a value the effective TOML could not
// render back. Text settings must be printable UTF-8, from any source.
TEST(ConfigEnv, BinaryValuesAreRefusedWithoutEchoingThem) {
  auto invalid = error_of(from_text("", {{"TROUPE_DATABASE_DATA_DIR", "4T\xff\xff"}}));
  EXPECT_NE(invalid.find("TROUPE_DATABASE_DATA_DIR"), std::string::npos) << invalid;
  EXPECT_NE(invalid.find("not valid UTF-8"), std::string::npos) << invalid;
  auto control = error_of(from_text("", {{"TROUPE_AUTH_JWT_SECRET", "abc\x01" "def"}}));
  EXPECT_NE(control.find("control characters"), std::string::npos) << control;
  EXPECT_EQ(control.find("abc"), std::string::npos) << "a secret is never echoed: " << control;
  auto from_file = error_of(from_text("[database]\ndata_dir = \"a\\u0000b\"\n"));
  EXPECT_NE(from_file.find("database.data_dir"), std::string::npos) << from_file;
  EXPECT_TRUE(from_text("[database]\ndata_dir = \"/srv/tröupe\"\n").value);
}

TEST(ConfigEnv, ReservedVariablesAreIgnored) {
  settings s = loaded("", {{"TROUPE_CONFIG", "/etc/troupe.toml"},
                           {"TROUPE_TEST_DATABASE", "whatever"},
                           {"TROUPE_TEST_", ""}});
  EXPECT_EQ(effective_toml(s), effective_toml(settings{}));
}

TEST(ConfigEnv, ErrorsNameTheVariable) {
  auto message = error_of(from_text("", {{"TROUPE_SERVER_IO_THREADS", "4 "}}));
  EXPECT_NE(message.find("TROUPE_SERVER_IO_THREADS"), std::string::npos) << message;
  EXPECT_NE(message.find("integer"), std::string::npos) << message;

  message = error_of(from_text("", {{"TROUPE_DATABASE_POOL_SIZE", "1000"}}));
  EXPECT_NE(message.find("TROUPE_DATABASE_POOL_SIZE"), std::string::npos) << message;
  EXPECT_NE(message.find("1..256"), std::string::npos) << message;

  message = error_of(from_text("", {{"TROUPE_LOG_FORMAT", "xml"}}));
  EXPECT_NE(message.find("TROUPE_LOG_FORMAT"), std::string::npos) << message;
}

TEST(ConfigEnv, IntegersMustBeWholeDecimalStrings) {
  for (const char* bad : {"", "0x10", "+4", " 4", "4.0", "four", "99999999999999999999"})
    EXPECT_TRUE(from_text("", {{"TROUPE_SERVER_IO_THREADS", bad}}).error) << "'" << bad << "'";
  EXPECT_EQ(loaded("", {{"TROUPE_SERVER_SHUTDOWN_GRACE_S", "0"}}).server.shutdown_grace_s, 0);
}

TEST(ConfigEnv, BooleanParsing) {
  const std::string var = "TROUPE_AUTH_ALLOW_REGISTRATION";
  for (const char* yes : {"true", "1", "yes", "TRUE", "Yes"})
    EXPECT_TRUE(loaded("", {{var, yes}}).auth.allow_registration) << yes;
  for (const char* no : {"false", "0", "no", "False", "NO"})
    EXPECT_FALSE(loaded("[auth]\nallow_registration = true\n", {{var, no}})
                     .auth.allow_registration)
        << no;
  for (const char* bad : {"", "on", "2", "y", "true "}) {
    auto message = error_of(from_text("", {{var, bad}}));
    EXPECT_NE(message.find(var), std::string::npos) << "'" << bad << "': " << message;
  }
}

TEST(ConfigFlags, OverrideEnvironment) {
  settings s = loaded("[server]\nio_threads = 4\n", {{"TROUPE_SERVER_IO_THREADS", "8"}},
                      {{"server.io_threads", "16"}, {"server.listen", "[::1]:0"}});
  EXPECT_EQ(s.server.io_threads, 16);
  EXPECT_EQ(s.server.listen, "[::1]:0");
}

TEST(ConfigFlags, LaterFlagWins) {
  settings s = loaded("", {}, {{"log.level", "debug"}, {"log.level", "error"}});
  EXPECT_EQ(s.log.level, "error");
}

TEST(ConfigFlags, ErrorsNameTheKey) {
  auto message = error_of(from_text("", {}, {{"server.io_threads", "0"}}));
  EXPECT_NE(message.find("server.io_threads"), std::string::npos) << message;
  EXPECT_NE(message.find("1..64"), std::string::npos) << message;

  message = error_of(from_text("", {}, {{"server.nope", "1"}}));
  EXPECT_NE(message.find("server.nope"), std::string::npos) << message;

  message = error_of(from_text("", {}, {{"auth.allow_registration", "maybe"}}));
  EXPECT_NE(message.find("auth.allow_registration"), std::string::npos) << message;
}

TEST(ConfigNumbers, DefaultsMatchTheHeader) {
  settings s = loaded("");
  EXPECT_EQ(s.evolution.engine, "builtin");
  EXPECT_DOUBLE_EQ(s.evolution.dedup_threshold, 0.8);
  EXPECT_EQ(s.evolution.budget_policy, "prune");
  EXPECT_DOUBLE_EQ(s.evolution.completeness_weight, 0.4);
  EXPECT_TRUE(s.evolution.safety_veto);
  EXPECT_EQ(s.evolution.max_rounds, 3);
}

TEST(ConfigNumbers, FromTomlFloatAndInteger) {
  settings s = loaded("[evolution]\ndedup_threshold = 0.65\nvote_threshold = 1\n"
                      "min_improvement = 0\nmax_rounds = 5\n");
  EXPECT_DOUBLE_EQ(s.evolution.dedup_threshold, 0.65);
  EXPECT_DOUBLE_EQ(s.evolution.vote_threshold, 1.0);
  EXPECT_DOUBLE_EQ(s.evolution.min_improvement, 0.0);
  EXPECT_EQ(s.evolution.max_rounds, 5);
  EXPECT_DOUBLE_EQ(loaded("evolution.dedup_threshold = 1e-2\n").evolution.dedup_threshold, 0.01);
}

TEST(ConfigNumbers, FromEnvironment) {
  settings s = loaded("[evolution]\nvote_threshold = 0.9\n",
                      {{"TROUPE_EVOLUTION_VOTE_THRESHOLD", "0.25"},
                       {"TROUPE_EVOLUTION_DEDUP_THRESHOLD", "1"},
                       {"TROUPE_EVOLUTION_MIN_IMPROVEMENT", "5e-3"}});
  EXPECT_DOUBLE_EQ(s.evolution.vote_threshold, 0.25);
  EXPECT_DOUBLE_EQ(s.evolution.dedup_threshold, 1.0);
  EXPECT_DOUBLE_EQ(s.evolution.min_improvement, 0.005);
}

TEST(ConfigNumbers, FromFlag) {
  settings s = loaded("", {{"TROUPE_EVOLUTION_VOTE_THRESHOLD", "0.25"}},
                      {{"evolution.vote_threshold", "0.75"}, {"evolution.dedup_threshold", ".5"}});
  EXPECT_DOUBLE_EQ(s.evolution.vote_threshold, 0.75);
  EXPECT_DOUBLE_EQ(s.evolution.dedup_threshold, 0.5);
}

TEST(ConfigNumbers, WrongTypeInFile) {
  auto message = error_of(from_text("[evolution]\n\ndedup_threshold = \"high\"\n"));
  EXPECT_NE(message.find("evolution.dedup_threshold"), std::string::npos) << message;
  EXPECT_NE(message.find("expected number"), std::string::npos) << message;
  EXPECT_NE(message.find("got string"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:3"), std::string::npos) << message;

  message = error_of(from_text("[evolution]\nvote_threshold = true\n"));
  EXPECT_NE(message.find("expected number, got boolean"), std::string::npos) << message;
}

TEST(ConfigNumbers, OutOfRangeNamesKeyRangeAndLine) {
  auto message = error_of(from_text("[evolution]\ndedup_threshold = 0.001\n"));
  EXPECT_NE(message.find("evolution.dedup_threshold"), std::string::npos) << message;
  EXPECT_NE(message.find("0.01..1"), std::string::npos) << message;
  EXPECT_NE(message.find("test.toml:2"), std::string::npos) << message;

  message = error_of(from_text("[evolution]\nvote_threshold = 2\n"));
  EXPECT_NE(message.find("evolution.vote_threshold"), std::string::npos) << message;
  EXPECT_NE(message.find("0..1"), std::string::npos) << message;

  message = error_of(from_text("", {{"TROUPE_EVOLUTION_MIN_IMPROVEMENT", "-0.5"}}));
  EXPECT_NE(message.find("TROUPE_EVOLUTION_MIN_IMPROVEMENT"), std::string::npos) << message;
  EXPECT_NE(message.find("0..1"), std::string::npos) << message;

  message = error_of(from_text("", {}, {{"evolution.dedup_threshold", "1e999"}}));
  EXPECT_NE(message.find("evolution.dedup_threshold"), std::string::npos) << message;

  EXPECT_DOUBLE_EQ(loaded("[evolution]\ndedup_threshold = 0.01\n").evolution.dedup_threshold,
                   0.01)
      << "range bounds are inclusive";
}

TEST(ConfigNumbers, NanAndInfinityAreRejected) {
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity"}) {
    auto message = error_of(from_text("", {{"TROUPE_EVOLUTION_VOTE_THRESHOLD", bad}}));
    EXPECT_NE(message.find("TROUPE_EVOLUTION_VOTE_THRESHOLD"), std::string::npos)
        << bad << ": " << message;
    message = error_of(from_text("", {}, {{"evolution.vote_threshold", bad}}));
    EXPECT_NE(message.find("evolution.vote_threshold"), std::string::npos) << bad << ": "
                                                                           << message;
  }
  for (const char* bad : {"nan", "inf", "-inf"}) {
    auto message = error_of(from_text(std::string("[evolution]\nvote_threshold = ") + bad + "\n"));
    EXPECT_NE(message.find("evolution.vote_threshold"), std::string::npos) << bad << ": "
                                                                           << message;
    EXPECT_NE(message.find("test.toml:2"), std::string::npos) << bad << ": " << message;
  }
}

TEST(ConfigNumbers, MustBeWholeDecimalStrings) {
  for (const char* bad : {"", " 0.5", "0.5 ", "+0.5", "0x0.8p0", "0,5", "half", "0.5.1"}) {
    auto message = error_of(from_text("", {{"TROUPE_EVOLUTION_VOTE_THRESHOLD", bad}}));
    EXPECT_NE(message.find("TROUPE_EVOLUTION_VOTE_THRESHOLD"), std::string::npos)
        << "'" << bad << "': " << message;
  }
}

TEST(ConfigNumbers, WeightsMustSumToOne) {
  auto message = error_of(from_text("[evolution]\nsafety_weight = 0.2\n"));
  EXPECT_NE(message.find("evolution.completeness_weight + efficiency_weight + safety_weight"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("must sum to 1, not 0.9"), std::string::npos) << message;

  // Checked after every source, so a flag can repair what the file broke.
  settings s = loaded("[evolution]\nsafety_weight = 0.2\n", {},
                      {{"evolution.efficiency_weight", "0.4"}});
  EXPECT_DOUBLE_EQ(s.evolution.safety_weight, 0.2);
  EXPECT_DOUBLE_EQ(s.evolution.efficiency_weight, 0.4);

  EXPECT_TRUE(from_text("[evolution]\ncompleteness_weight = 0.3333\nefficiency_weight = 0.3333\n"
                        "safety_weight = 0.3333\n")
                  .value)
      << "within 0.001 of 1";
  EXPECT_TRUE(from_text("[evolution]\ncompleteness_weight = 1\nefficiency_weight = 0\n"
                        "safety_weight = 0\n")
                  .value);
  EXPECT_TRUE(from_text("", {{"TROUPE_EVOLUTION_SAFETY_WEIGHT", "0.4"}}).error);
}

TEST(ConfigNumbers, EvolutionEnumKeys) {
  EXPECT_EQ(loaded("[evolution]\nbudget_policy = \"reject\"\n").evolution.budget_policy, "reject");
  auto message = error_of(from_text("[evolution]\nengine = \"llm\"\n"));
  EXPECT_NE(message.find("evolution.engine"), std::string::npos) << message;
  message = error_of(from_text("", {}, {{"evolution.budget_policy", "drop"}}));
  EXPECT_NE(message.find("prune|reject"), std::string::npos) << message;
}

TEST(ConfigNumbers, RenderedAsRoundTrippingTomlFloats) {
  settings s;
  auto text = effective_toml(s);
  EXPECT_NE(text.find("\ndedup_threshold = 0.8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nmin_improvement = 0.01\n"), std::string::npos) << text;

  s.evolution.vote_threshold = 1;
  s.evolution.min_improvement = 0.1 + 0.2; // not exactly 0.3
  s.evolution.dedup_threshold = 1.0 / 3;   // needs all its digits
  s.evolution.completeness_weight = 0;
  s.evolution.efficiency_weight = 0.7;
  text = effective_toml(s);
  EXPECT_NE(text.find("\nvote_threshold = 1.0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\ncompleteness_weight = 0.0\n"), std::string::npos) << text;
  auto again = loaded(effective_toml(s));
  EXPECT_EQ(again.evolution.vote_threshold, 1.0);
  EXPECT_EQ(again.evolution.min_improvement, 0.1 + 0.2);
  EXPECT_EQ(again.evolution.dedup_threshold, 1.0 / 3);
  EXPECT_EQ(again.evolution.efficiency_weight, 0.7);
  EXPECT_EQ(effective_toml(again), effective_toml(s));

  s.evolution.min_improvement = 1e-5; // shortest form has an exponent, "1e-05"
  again = loaded(effective_toml(s));
  EXPECT_EQ(again.evolution.min_improvement, 1e-5);
}

TEST(ConfigNumbers, ExampleShowsRangeAndDefault) {
  auto text = example_toml();
  EXPECT_NE(text.find("[0.01..1] (default: 0.8)\ndedup_threshold = 0.8\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("[0..1] (default: 0.4)\ncompleteness_weight = 0.4\n"), std::string::npos)
      << text;
}

TEST(ConfigSecrets, MaskedInEffectiveToml) {
  settings s;
  s.auth.jwt_secret = "s3cr3t-signing-key";
  s.database.url = "postgresql://troupe:hunter2@db.internal:5432/troupe?sslmode=require";
  auto text = effective_toml(s);
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("jwt_secret = \"***\""), std::string::npos) << text;
  EXPECT_NE(text.find("url = \"postgresql://troupe:***@db.internal:5432/troupe?sslmode=require\""),
            std::string::npos)
      << text;
}

TEST(ConfigSecrets, EmptySecretsStayEmpty) {
  auto text = effective_toml(settings{});
  EXPECT_NE(text.find("jwt_secret = \"\""), std::string::npos) << text;
  EXPECT_NE(text.find("url = \"\""), std::string::npos) << text;
}

TEST(ConfigSecrets, UrlPasswordVariants) {
  auto masked_url = [](const std::string& url) {
    settings s;
    s.database.url = url;
    auto text = effective_toml(s);
    auto start = text.find("url = \"") + 7;
    return text.substr(start, text.find('"', start) - start);
  };
  EXPECT_EQ(masked_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
  EXPECT_EQ(masked_url("postgres://u@h/db"), "postgres://u@h/db");
  EXPECT_EQ(masked_url("postgres://h/db?user=u&password=pw&sslmode=disable"),
            "postgres://h/db?user=u&password=***&sslmode=disable");
  EXPECT_EQ(masked_url("host=h password=pw dbname=d"), "host=h password=*** dbname=d");
  EXPECT_EQ(masked_url("host=h password = 'p w\\'x' dbname=d"),
            "host=h password = *** dbname=d");
  EXPECT_EQ(masked_url("passwordfile=x host=h"), "passwordfile=x host=h");
}

TEST(ConfigEffective, IsLoadableToml) {
  settings s = loaded("[server]\nio_threads = 7\n[log]\nformat = \"text\"\n");
  s.database.data_dir = "dir with \"quotes\" and \\ backslash";
  auto again = loaded(effective_toml(s));
  EXPECT_EQ(again.server.io_threads, 7);
  EXPECT_EQ(again.log.format, "text");
  EXPECT_EQ(again.database.data_dir, s.database.data_dir);
}

TEST(ConfigExample, RoundTripGivesDefaults) {
  settings s = loaded(example_toml());
  EXPECT_EQ(effective_toml(s), effective_toml(settings{}));
}

TEST(ConfigExample, DocumentsEveryKeyWithItsDefault) {
  auto text = example_toml();
  EXPECT_NE(text.find("TROUPE_"), std::string::npos) << "the header explains the precedence";
  for (const char* section : {"[server]", "[database]", "[auth]", "[playbooks]", "[log]"})
    EXPECT_NE(text.find(std::string("\n") + section + "\n"), std::string::npos) << section;
  // Every key line of the effective defaults appears in the example, preceded by its comment.
  std::istringstream lines(effective_toml(settings{}));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#' || line[0] == '[')
      continue;
    auto at = text.find("\n" + line + "\n");
    ASSERT_NE(at, std::string::npos) << line;
    auto comment_start = text.rfind("\n# ", at - 1);
    auto comment = text.substr(comment_start, at - comment_start);
    EXPECT_NE(comment.find("(default: "), std::string::npos) << line;
  }
}

TEST(ConfigExample, RepositoryFileMatches) {
  auto path = std::string(TROUPE_SOURCE_DIR) + "/config/troupe.example.toml";
  EXPECT_EQ(read_file(path), example_toml())
      << "regenerate " << path << " from example_toml()";
}

TEST(ConfigEnvironment, ProcessEnvironmentIsRead) {
  ::setenv("TROUPE_TEST_CONFIG_PROBE", "a=b", 1);
  auto env = process_environment();
  ::unsetenv("TROUPE_TEST_CONFIG_PROBE");
  ASSERT_TRUE(env.count("TROUPE_TEST_CONFIG_PROBE"));
  EXPECT_EQ(env["TROUPE_TEST_CONFIG_PROBE"], "a=b");
}

TEST(ConfigLlm, AModelMustBeReachableWhenAStepUsesOne) {
  auto message = error_of(from_text("[evolution]\nengine = \"llm\"\n"));
  EXPECT_NE(message.find("llm.base_url must be set"), std::string::npos) << message;
  message = error_of(from_text("[evolution]\nsafety_critic = \"llm\"\n"));
  EXPECT_NE(message.find("llm.base_url must be set"), std::string::npos) << message;
  message = error_of(from_text("[llm]\nbase_url = \"ftp://x\"\n"));
  EXPECT_NE(message.find("http:// or https://"), std::string::npos) << message;
  message = error_of(from_text("[llm]\nbase_url = \"http://a/v1, http://b/v1, http://c/v1\"\n"
                               "model = \"m1, m2\"\n"));
  EXPECT_NE(message.find("llm.model lists 2 entries for 3 base URL(s)"), std::string::npos)
      << message;

  settings s = loaded("[evolution]\nengine = \"llm\"\n[llm]\n"
                      "base_url = \"http://a/v1 , https://b/v1\"\nmodel = \"m\"\n",
                      {}, {});
  EXPECT_EQ(split_list(s.llm.base_url), (std::vector<std::string>{"http://a/v1", "https://b/v1"}));
  EXPECT_EQ(split_list(" , x,,y "), (std::vector<std::string>{"x", "y"}));
}

// The cluster link's rules between keys (docs/cluster.md).
TEST(ConfigCluster, TheLinkIsNeverOpenOffLoopbackWithoutTls) {
  auto s = loaded("[cluster]\njoin = \"gateway-1:7600,10.0.0.2:7600,[::1]:7601\"\n");
  EXPECT_EQ(s.cluster.listen, "127.0.0.1:7600");
  EXPECT_EQ(s.cluster.node_timeout_s, 15);
  auto open = error_of(from_text("[cluster]\nlisten = \"0.0.0.0:7600\"\n"));
  EXPECT_NE(open.find("not loopback"), std::string::npos) << open;
  EXPECT_NE(open.find("TLS"), std::string::npos) << open;
  // A secret alone is checked only after CAF has read the peer's messages.
  auto secret_only = error_of(from_text(
      "[cluster]\nlisten = \"0.0.0.0:7600\"\nsecret = \"0123456789abcdef-long\"\n"));
  EXPECT_NE(secret_only.find("not loopback"), std::string::npos) << secret_only;
  loaded("[cluster]\nlisten = \"0.0.0.0:7600\"\ncertificate = \"n.pem\"\nkey = \"n.key\"\n"
         "ca = \"ca.pem\"\n");
  auto partial = error_of(from_text("[cluster]\ncertificate = \"n.pem\"\n"));
  EXPECT_NE(partial.find("go together"), std::string::npos) << partial;
  auto short_secret = error_of(from_text("[cluster]\nsecret = \"short\"\n"));
  EXPECT_NE(short_secret.find("at least 16 bytes"), std::string::npos) << short_secret;
  auto both = error_of(from_text("[cluster]\nsecret = \"0123456789abcdef\"\nsecret_file = \"f\"\n"));
  EXPECT_NE(both.find("not both"), std::string::npos) << both;
  auto join = error_of(from_text("[cluster]\njoin = \"gateway:0\"\n"));
  EXPECT_NE(join.find("cluster.join"), std::string::npos) << join;
  EXPECT_NE(error_of(from_text("[cluster]\njoin = \"bad host:7600\"\n")).find("HOST:PORT"),
            std::string::npos);
  EXPECT_TRUE(loaded("[cluster]\nlisten = \"\"\n").cluster.listen.empty());
}

} // namespace
} // namespace troupe::config
