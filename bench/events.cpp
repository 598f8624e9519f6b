// troupe_bench_events: the event-stream benchmarks of quality.md, each with a
// reference measured in the same run.
//
//   troupe_bench_events b3 --address HOST:PORT --key KEY [--iterations 50]
//     B3: the 5th outcome of a playbook (threshold 5) is posted, an evolution
//     runs, and playbook.version_created arrives on a WebSocket. Latency from
//     sending the 5th POST to receiving the event, per iteration.
//     Reference: the round trip of that same POST (its 201).
//
//   troupe_bench_events b5 --address HOST:PORT --key KEY --user-id UUID
//                          [--subscribers 100] [--events 5000] [--idle 0]
//                          [--server-pid PID]
//     B5: `events` job.progress events are committed in one transaction
//     (libpqxx; connection from the PG* environment) while `subscribers`
//     WebSockets listen; throughput is events delivered in total per second
//     from the commit to the last event at the last subscriber. Every
//     subscriber must receive every event, in id order (none lost).
//     Reference: the same with a single subscriber. `idle` further
//     subscribers (of a topic B5 does not publish) are opened first and held
//     through both runs; the server's RSS is read before, with them, and
//     after.
//
// Prints one JSON object.
#include <algorithm>
#include <utility>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string mode, host = "127.0.0.1", port = "8080", key, user_id;
  int iterations = 50;
  int subscribers = 100;
  int events = 5000;
  int idle = 0;        // B5: idle subscribers held open through the measurement
  int server_pid = 0;  // B5: whose resident memory to report
};

// VmRSS of a process in MB, 0 when unknown.
double rss_mb(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// A blocking keep-alive HTTP client for the API calls around the measurements.
class api_client {
public:
  explicit api_client(const options& o) : opts_(o), stream_(ioc_) {
    tcp::resolver r{ioc_};
    stream_.connect(r.resolve(o.host, o.port));
    stream_.socket().set_option(tcp::no_delay(true));
  }

  std::pair<int, json> send(http::verb method, const std::string& target, const json& body = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, opts_.host);
    req.set(http::field::authorization, "Bearer " + opts_.key);
    if (!body.is_null()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body.dump();
    }
    req.prepare_payload();
    http::write(stream_, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream_, buffer, res);
    return {static_cast<int>(res.result_int()), json::parse(res.body(), nullptr, false)};
  }

private:
  const options& opts_;
  asio::io_context ioc_;
  beast::tcp_stream stream_;
};

// A WebSocket subscriber on a shared io_context; calls on_event with each
// message's id (read without parsing the whole JSON: at 100 subscribers the
// client must not be the bottleneck).
class subscriber : public std::enable_shared_from_this<subscriber> {
public:
  subscriber(asio::io_context& ioc, std::function<void(long long)> on_event)
      : ws_(ioc), on_event_(std::move(on_event)) {}

  // Connects and upgrades synchronously, then reads asynchronously.
  void open(const options& o, const std::string& query) {
    tcp::resolver r{ws_.get_executor()};
    asio::connect(ws_.next_layer(), r.resolve(o.host, o.port));
    ws_.next_layer().set_option(tcp::no_delay(true));
    ws_.set_option(websocket::stream_base::decorator([key = o.key](websocket::request_type& req) {
      req.set(http::field::authorization, "Bearer " + key);
    }));
    ws_.handshake(o.host, "/v1/events/ws" + query);
  }

  void start() { read(); }

  void close() {
    beast::error_code ec;
    ws_.next_layer().close(ec);
  }

  std::atomic<bool> failed{false};

private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->failed = true;
        return;
      }
      auto data = static_cast<const char*>(self->buffer_.cdata().data());
      std::string_view text{data, self->buffer_.size()};
      long long id = -1;
      auto at = text.find("\"id\":");
      if (at != std::string_view::npos)
        std::from_chars(text.data() + at + 5, text.data() + text.size(), id);
      self->buffer_.consume(self->buffer_.size());
      self->on_event_(id);
      self->read();
    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::function<void(long long)> on_event_;
};

// ---- B3 ---------------------------------------------------------------------------

json run_b3(const options& o) {
  api_client api{o};
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  std::thread io{[&] { ioc.run(); }};
  std::vector<double> event_ms, post_ms;
  int lost = 0;
  for (int i = 0; i < o.iterations; ++i) {
    auto [status, pb] = api.send(http::verb::post, "/v1/playbooks",
                                 {{"name", "b3-" + std::to_string(i)}, {"evolution_threshold", 5}});
    if (status != 201)
      throw std::runtime_error("creating a playbook answered " + std::to_string(status));
    std::string id = pb["id"];
    std::mutex m;
    std::condition_variable cv;
    bool got = false;
    clock_type::time_point received;
    auto sub = std::make_shared<subscriber>(ioc, [&](long long) {
      std::lock_guard lock{m};
      if (!got) {
        got = true;
        received = clock_type::now();
      }
      cv.notify_all();
    });
    sub->open(o, "?topics=playbook.version_created&playbook_id=" + id);
    asio::post(ioc, [sub] { sub->start(); });
    clock_type::time_point sent;
    for (int k = 1; k <= 5; ++k) {
      json outcome = {{"task_description", "bench task " + std::to_string(k)},
                      {"outcome", "failure"},
                      {"notes", "Lesson: check input " + std::to_string(i) + "-" +
                                    std::to_string(k) + " before running the report."}};
      if (k == 5)
        sent = clock_type::now();
      auto [s, body] = api.send(http::verb::post, "/v1/playbooks/" + id + "/outcomes", outcome);
      if (s != 201)
        throw std::runtime_error("posting an outcome answered " + std::to_string(s));
      if (k == 5)
        post_ms.push_back(ms_since(sent));
    }
    std::unique_lock lock{m};
    if (cv.wait_for(lock, std::chrono::seconds{10}, [&] { return got; }))
      event_ms.push_back(std::chrono::duration<double, std::milli>(received - sent).count());
    else
      ++lost;
    lock.unlock();
    asio::post(ioc, [sub] { sub->close(); });
  }
  guard.reset();
  ioc.stop();
  io.join();
  return {{"iterations", o.iterations},
          {"received", event_ms.size()},
          {"missing", lost},
          {"event_p50_ms", percentile(event_ms, 0.5)},
          {"event_p99_ms", percentile(event_ms, 0.99)},
          {"event_max_ms", percentile(event_ms, 1.0)},
          {"post_p50_ms", percentile(post_ms, 0.5)},
          {"post_p99_ms", percentile(post_ms, 0.99)}};
}

// ---- B5 ---------------------------------------------------------------------------

struct fan_out_result {
  double seconds = 0;
  long long delivered = 0;
  int complete = 0;  // subscribers that got every event
  int disordered = 0;
  int failed = 0;
};

fan_out_result fan_out(const options& o, int subscribers, int events) {
  pqxx::connection db{""}; // PGHOST, PGUSER, PGPASSWORD, PGDATABASE
  long long after = 0;
  {
    pqxx::read_transaction tx{db};
    after = tx.exec("SELECT coalesce(max(id), 0) FROM events")[0][0].as<long long>();
  }
  asio::io_context ioc;
  struct tally {
    long long last = 0;
    int count = 0;
    bool disordered = false;
  };
  std::vector<tally> tallies(static_cast<std::size_t>(subscribers));
  std::atomic<int> finished{0};
  std::atomic<long long> delivered{0};
  std::mutex m;
  std::condition_variable cv;
  clock_type::time_point last_done;
  std::vector<std::shared_ptr<subscriber>> subs;
  for (int i = 0; i < subscribers; ++i) {
    auto* t = &tallies[static_cast<std::size_t>(i)];
    subs.push_back(std::make_shared<subscriber>(ioc, [&, t, events](long long id) {
      // One io thread: no lock needed for the tally itself.
      if (id <= t->last)
        t->disordered = true;
      t->last = id;
      ++delivered;
      if (++t->count == events) {
        std::lock_guard lock{m};
        last_done = clock_type::now();
        ++finished;
        cv.notify_all();
      }
    }));
    // Subscribed from `after`: whatever the bridge has registered by the
    // commit, every event after it is owed to every subscriber.
    subs.back()->open(o, "?topics=job.progress&after=" + std::to_string(after));
  }
  for (auto& s : subs)
    s->start();
  std::thread io{[&] { ioc.run(); }};
  clock_type::time_point committed;
  {
    pqxx::work tx{db};
    tx.exec_params("INSERT INTO events (user_id, topic, data)"
                   " SELECT $1, 'job.progress', jsonb_build_object('n', g, 'pad', repeat('x', 100))"
                   " FROM generate_series(1, $2) g",
                   o.user_id, events);
    tx.commit();
    committed = clock_type::now();
  }
  fan_out_result r;
  {
    std::unique_lock lock{m};
    cv.wait_for(lock, std::chrono::seconds{120}, [&] { return finished == subscribers; });
    r.seconds = std::chrono::duration<double>((finished == subscribers ? last_done
                                                                       : clock_type::now()) -
                                              committed)
                    .count();
  }
  for (auto& s : subs)
    asio::post(ioc, [s] { s->close(); });
  ioc.stop();
  io.join();
  r.delivered = delivered;
  for (std::size_t i = 0; i < tallies.size(); ++i) {
    r.complete += tallies[i].count == events ? 1 : 0;
    r.disordered += tallies[i].disordered ? 1 : 0;
    r.failed += subs[i]->failed && tallies[i].count != events ? 1 : 0;
  }
  return r;
}

// Subscribers that wait for a topic B5 does not publish: each holds a stream,
// a socket and a subscription on the server, reading (so it answers the
// server's pings) on an io thread of its own.
struct idle_set {
  asio::io_context ioc;
  std::vector<std::shared_ptr<subscriber>> subs;
  std::thread io;

  idle_set(const options& o, int n) {
    for (int i = 0; i < n; ++i) {
      subs.push_back(std::make_shared<subscriber>(ioc, [](long long) {}));
      subs.back()->open(o, "?topics=playbook.version_created");
      subs.back()->start();
    }
    io = std::thread{[this] { ioc.run(); }};
  }

  int open() const {
    int n = 0;
    for (const auto& s : subs)
      n += s->failed ? 0 : 1;
    return n;
  }

  ~idle_set() {
    for (auto& s : subs)
      asio::post(ioc, [s] { s->close(); });
    if (io.joinable())
      io.join();
  }
};

json run_b5(const options& o) {
  auto rss_before = rss_mb(o.server_pid);
  auto opened = clock_type::now();
  idle_set idle{o, o.idle};
  double open_s = std::chrono::duration<double>(clock_type::now() - opened).count();
  auto rss_idle = rss_mb(o.server_pid);
  auto one = fan_out(o, 1, o.events);
  auto many = fan_out(o, o.subscribers, o.events);
  auto rss_after = rss_mb(o.server_pid);
  int idle_open = idle.open();
  auto rate = [](const fan_out_result& r) { return r.seconds > 0 ? r.delivered / r.seconds : 0; };
  return {{"idle_subscribers", o.idle},
          {"idle_open_after", idle_open},
          {"idle_open_seconds", open_s},
          {"server_rss_mb_before", rss_before},
          {"server_rss_mb_idle", rss_idle},
          {"server_rss_mb_after", rss_after},
          {"subscribers", o.subscribers},
          {"events", o.events},
          {"delivered", many.delivered},
          {"expected", static_cast<long long>(o.subscribers) * o.events},
          {"complete_subscribers", many.complete},
          {"disordered_subscribers", many.disordered},
          {"seconds", many.seconds},
          {"events_per_s", rate(many)},
          {"reference_one_subscriber_events_per_s", rate(one)},
          {"reference_complete", one.complete == 1 && one.disordered == 0}};
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (argc < 2) {
    std::cerr << "usage: troupe_bench_events b3|b5 --address HOST:PORT --key KEY [...]\n";
    return 2;
  }
  o.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--address") {
      auto colon = value.rfind(':');
      o.host = value.substr(0, colon);
      o.port = value.substr(colon + 1);
    } else if (flag == "--key") {
      o.key = value;
    } else if (flag == "--user-id") {
      o.user_id = value;
    } else if (flag == "--iterations") {
      o.iterations = std::stoi(value);
    } else if (flag == "--subscribers") {
      o.subscribers = std::stoi(value);
    } else if (flag == "--events") {
      o.events = std::stoi(value);
    } else if (flag == "--idle") {
      o.idle = std::stoi(value);
    } else if (flag == "--server-pid") {
      o.server_pid = std::stoi(value);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  try {
    if (o.mode == "b3")
      std::cout << run_b3(o).dump() << "\n";
    else if (o.mode == "b5")
      std::cout << run_b5(o).dump() << "\n";
    else
      throw std::runtime_error("unknown benchmark " + o.mode);
  } catch (const std::exception& e) {
    std::cerr << "troupe_bench_events: " << e.what() << "\n";
    return 1;
  }
}
