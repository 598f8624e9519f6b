// troupe_loadgen: an HTTP/1.1 keep-alive load generator that measures the
// latency of every request.
//
//   troupe_loadgen --address 127.0.0.1:8080 --method POST --path /v1/...
//     --header 'Authorization: Bearer tr_…' --body '{"…"}'
//     --connections 64 --duration 15 [--rate 5000]
//
// Without --rate each connection sends its next request as soon as the last
// answer arrives (closed loop: the throughput figure). With --rate the
// connections share a fixed schedule of that many requests per second and
// latency is measured from each request's scheduled time, so a stall is
// counted against every request it delays (no coordinated omission).
// Prints one JSON object: requests, errors, rps, latency percentiles, statuses.
#include <algorithm>
#include <utility>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

struct options {
  std::string host = "127.0.0.1", port = "8080", method = "GET", path = "/healthz", body;
  std::vector<std::pair<std::string, std::string>> headers;
  int connections = 64;
  double duration_s = 10;
  double rate = 0;
};

struct results {
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::map<int, long> statuses;
  long errors = 0;
};

class connection : public std::enable_shared_from_this<connection> {
public:
  connection(asio::io_context& ioc, const options& o, results& r, clock_type::time_point end,
             double interval_s, clock_type::time_point first)
      : stream_(ioc), opts_(o), results_(r), end_(end), interval_(interval_s), next_(first),
        timer_(ioc) {
    req_.method_string(o.method);
    req_.target(o.path);
    req_.version(11);
    req_.set(http::field::host, o.host);
    for (auto& [k, v] : o.headers)
      req_.set(k, v);
    if (!o.body.empty())
      req_.set(http::field::content_type, "application/json");
    req_.body() = o.body;
    req_.keep_alive(true);
    req_.prepare_payload();
  }

  void start(const tcp::resolver::results_type& endpoints) {
    stream_.async_connect(endpoints, [self = shared_from_this()](beast::error_code ec,
                                                                 const tcp::endpoint&) {
      if (ec) {
        std::lock_guard g{self->results_.mutex};
        ++self->results_.errors;
        return;
      }
      self->schedule();
    });
  }

private:
  void schedule() {
    if (interval_ <= 0) {
      scheduled_ = clock_type::now();
      return send();
    }
    scheduled_ = next_;
    next_ += std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(interval_));
    timer_.expires_at(scheduled_);
    timer_.async_wait([self = shared_from_this()](beast::error_code) { self->send(); });
  }

  void send() {
    if (clock_type::now() >= end_)
      return;
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec)
        return self->fail();
      self->res_ = {};
      http::async_read(self->stream_, self->buffer_, self->res_,
                       [self](beast::error_code ec2, std::size_t) { self->received(ec2); });
    });
  }

  void received(beast::error_code ec) {
    if (ec)
      return fail();
    double ms = std::chrono::duration<double, std::milli>(clock_type::now() - scheduled_).count();
    {
      std::lock_guard g{results_.mutex};
      results_.latencies_ms.push_back(ms);
      ++results_.statuses[static_cast<int>(res_.result_int())];
    }
    schedule();
  }

  void fail() {
    std::lock_guard g{results_.mutex};
    ++results_.errors;
  }

  beast::tcp_stream stream_;
  const options& opts_;
  results& results_;
  clock_type::time_point end_;
  double interval_;
  clock_type::time_point next_, scheduled_;
  asio::steady_timer timer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  beast::flat_buffer buffer_;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--address") {
      auto colon = v.rfind(':');
      o.host = v.substr(0, colon);
      o.port = v.substr(colon + 1);
    } else if (k == "--method") {
      o.method = v;
    } else if (k == "--path") {
      o.path = v;
    } else if (k == "--body") {
      o.body = v;
    } else if (k == "--header") {
      auto colon = v.find(':');
      o.headers.emplace_back(v.substr(0, colon), v.substr(v.find_first_not_of(' ', colon + 1)));
    } else if (k == "--connections") {
      o.connections = std::stoi(v);
    } else if (k == "--duration") {
      o.duration_s = std::stod(v);
    } else if (k == "--rate") {
      o.rate = std::stod(v);
    } else {
      throw std::invalid_argument("unknown option " + k);
    }
  }
  return o;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty())
    return 0;
  auto idx = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(idx), v.end());
  return v[idx];
}

int main(int argc, char** argv) {
  try {
    auto o = parse(argc, argv);
    asio::io_context ioc;
    auto endpoints = tcp::resolver{ioc}.resolve(o.host, o.port);
    results r;
    auto start = clock_type::now();
    auto end = start + std::chrono::duration_cast<clock_type::duration>(
                           std::chrono::duration<double>(o.duration_s));
    double interval = o.rate > 0 ? o.connections / o.rate : 0;
    for (int i = 0; i < o.connections; ++i) {
      // Spread the connections' schedules evenly over one interval.
      auto first = start + std::chrono::duration_cast<clock_type::duration>(
                               std::chrono::duration<double>(interval * i / o.connections));
      std::make_shared<connection>(ioc, o, r, end, interval, first)->start(endpoints);
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i)
      threads.emplace_back([&] { ioc.run(); });
    for (auto& t : threads)
      t.join();
    double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    nlohmann::json statuses = nlohmann::json::object();
    for (auto& [code, n] : r.statuses)
      statuses[std::to_string(code)] = n;
    auto n = r.latencies_ms.size();
    nlohmann::json out = {{"requests", n},
                          {"errors", r.errors},
                          {"seconds", elapsed},
                          {"rps", static_cast<double>(n) / o.duration_s},
                          {"p50_ms", percentile(r.latencies_ms, 0.50)},
                          {"p90_ms", percentile(r.latencies_ms, 0.90)},
                          {"p99_ms", percentile(r.latencies_ms, 0.99)},
                          {"max_ms", percentile(r.latencies_ms, 1.0)},
                          {"statuses", statuses}};
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "troupe_loadgen: " << e.what() << "\n";
    return 2;
  }
}
