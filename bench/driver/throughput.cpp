// soci-routing-bench: the same SOCI workload over any connect string.
//
//   soci-routing-bench -c 'routing://config=db.toml sticky=0' -w point -t 4 -s 10 [--json]
//
// N threads, each with its own soci::session, run the workload against pgbench's table
// pgbench_accounts(aid, abalance, ...) for S seconds after a warm-up:
//   point            SELECT abalance FROM pgbench_accounts WHERE aid = :aid       (one-time queries)
//   mixed            90% point reads, 10% UPDATE ... SET abalance = abalance + :d  (one-time queries)
//   point-prepared   the same as point, one soci::statement prepared per thread and re-executed
//   mixed-prepared   the same as mixed, two prepared statements per thread
//   trivial          SELECT :aid (one-time; no table): the server's share is as small as it gets, so the
//                    client's per-statement cost shows
// aid is uniform over 1..--rows. Reported: ops/s, p50/p99 latency (µs), errors, and the process's CPU
// time (getrusage user+sys, and each apart) per statement in µs: the client-side cost of a statement, which is
// what the routing backend adds to; the same for the worker threads alone (getrusage RUSAGE_THREAD: without the
// process's other threads, such as a routing plugin's probers); involuntary context switches per statement; and
// heap allocations per statement, counted in the statement's own thread (alloc-count.h).
#include "alloc-count.h"

#include <soci/soci.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr char const* select_sql = "SELECT abalance FROM pgbench_accounts WHERE aid = :aid";
constexpr char const* trivial_sql = "SELECT :aid";
constexpr char const* update_sql = "UPDATE pgbench_accounts SET abalance = abalance + :d WHERE aid = :aid";

enum class workload { point, mixed, point_prepared, mixed_prepared, trivial };

struct options {
    std::vector<std::string> connects;  // thread i connects with connects[i % size]
    std::string connect;                // all of them, for messages
    std::string label;
    std::string workload_name = "point";
    workload kind = workload::point;
    int threads = 4;
    double seconds = 10.0;
    double warmup = 2.0;
    int rows = 1000000;
    int write_percent = 10;
    std::uint64_t seed = 42;
    bool json = false;
};

// What one thread saw during the measured window.
struct thread_result {
    std::vector<std::uint32_t> latencies_ns; // one per measured statement, saturated at ~4.29 s
    std::uint64_t reads = 0;
    std::uint64_t writes = 0;
    std::uint64_t misses = 0;  // reads that found no row (should stay 0)
    std::uint64_t errors = 0;  // statements that threw, in the measured window
    std::uint64_t warmup_ops = 0;
    std::uint64_t allocations = 0;  // heap allocations of the measured statements
    // This thread's own CPU over the measured window (getrusage RUSAGE_THREAD): the statements' cost without
    // the process's other threads (a routing plugin's probers and watchdog, the main thread).
    double thread_user = 0, thread_sys = 0;
    long thread_involuntary_switches = 0;
    std::string first_error;
    std::string connect_error;
};

// The start line: the main thread releases the workers once every session is connected and prepared.
struct start_gate {
    std::mutex m;
    std::condition_variable cv;
    int ready = 0;
    bool go = false;
    bool abort = false;
    clock_type::time_point measure_begin;
    clock_type::time_point measure_end;
};

std::string mask_password(std::string s) {
    static std::regex const pw(R"((password\s*=\s*)(\S+))", std::regex::icase);
    return std::regex_replace(s, pw, "$1***");
}

struct cpu_split {
    double user = 0, sys = 0;
    long involuntary_switches = 0;  ///< preemptions: on a small machine, clients and servers share the cores
};
cpu_split cpu_now(int who = RUSAGE_SELF) {
    rusage ru{};
    getrusage(who, &ru);
    return {static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6,
            static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6,
            ru.ru_nivcsw};
}

void worker(options const& opt, int index, start_gate& gate, thread_result& out) {
    std::optional<soci::session> sql;
    std::optional<soci::statement> sel;
    std::optional<soci::statement> upd;
    int aid = 1;
    int balance = 0;
    int delta = 0;
    bool const prepared = opt.kind == workload::point_prepared || opt.kind == workload::mixed_prepared;
    bool const mixed = opt.kind == workload::mixed || opt.kind == workload::mixed_prepared;

    try {
        sql.emplace(opt.connects[static_cast<std::size_t>(index) % opt.connects.size()]);
        if (prepared) {
            sel.emplace((sql->prepare << select_sql, soci::use(aid), soci::into(balance)));
            if (mixed) {
                upd.emplace((sql->prepare << update_sql, soci::use(delta), soci::use(aid)));
            }
        }
    } catch (std::exception const& e) {
        out.connect_error = e.what();
    }

    clock_type::time_point begin, end;
    {
        std::unique_lock<std::mutex> lock(gate.m);
        ++gate.ready;
        gate.cv.notify_all();
        gate.cv.wait(lock, [&] { return gate.go || gate.abort; });
        if (gate.abort || !out.connect_error.empty()) {
            return;
        }
        begin = gate.measure_begin;
        end = gate.measure_end;
    }

    std::mt19937_64 rng(opt.seed * 1000003u + static_cast<std::uint64_t>(index));
    std::uniform_int_distribution<int> aid_dist(1, opt.rows);
    std::uniform_int_distribution<int> pct_dist(0, 99);
    std::uniform_int_distribution<int> delta_dist(-5000, 5000);
    int consecutive_errors = 0;
    bool measuring = false;
    cpu_split thread_cpu0;

    for (;;) {
        bool const write = mixed && pct_dist(rng) < opt.write_percent;
        aid = aid_dist(rng);
        if (write) {
            delta = delta_dist(rng);
        }
        auto const t0 = clock_type::now();
        if (t0 >= end) {
            if (measuring) {
                cpu_split const thread_cpu1 = cpu_now(RUSAGE_THREAD);
                out.thread_user = thread_cpu1.user - thread_cpu0.user;
                out.thread_sys = thread_cpu1.sys - thread_cpu0.sys;
                out.thread_involuntary_switches = thread_cpu1.involuntary_switches - thread_cpu0.involuntary_switches;
            }
            break;
        }
        if (!measuring && t0 >= begin) {
            measuring = true;
            thread_cpu0 = cpu_now(RUSAGE_THREAD);
        }
        bool ok = true;
        bool found = true;
        std::uint64_t const allocations0 = bench_alloc::count();
        try {
            if (prepared) {
                if (write) {
                    upd->execute(true);
                } else {
                    found = sel->execute(true);
                }
            } else if (opt.kind == workload::trivial) {
                *sql << trivial_sql, soci::use(aid), soci::into(balance);
                found = sql->got_data() && balance == aid;
            } else if (write) {
                *sql << update_sql, soci::use(delta), soci::use(aid);
            } else {
                *sql << select_sql, soci::use(aid), soci::into(balance);
                found = sql->got_data();
            }
            consecutive_errors = 0;
        } catch (std::exception const& e) {
            ok = false;
            if (t0 >= begin) {
                ++out.errors;
                if (out.first_error.empty()) {
                    out.first_error = e.what();
                }
            }
            // Do not spin on a broken connection; the run is invalid anyway and reports its errors.
            if (++consecutive_errors > 3) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        auto const t1 = clock_type::now();
        std::uint64_t const allocations1 = bench_alloc::count();
        if (t0 < begin) {
            ++out.warmup_ops;
            continue;
        }
        if (!ok || t1 > end) {
            continue;
        }
        auto const ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        out.latencies_ns.push_back(static_cast<std::uint32_t>(std::min<long long>(ns, UINT32_MAX)));
        out.allocations += allocations1 - allocations0;
        if (write) {
            ++out.writes;
        } else {
            ++out.reads;
            if (!found) {
                ++out.misses;
            }
        }
    }
}

double percentile_us(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) {
        return 0.0;
    }
    auto const k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
    options opt;
    CLI::App app{"soci-routing-bench: throughput, latency and client CPU per statement of a SOCI workload"};
    app.add_option("-c,--connect", opt.connects,
                   "SOCI connect string, e.g. 'routing://config=db.toml sticky=0' or "
                   "'postgresql://host=127.0.0.1 port=5432 dbname=app ...'; given several times, the threads "
                   "take them in turn (thread i the (i mod n)-th)")
        ->required();
    app.add_option("-w,--workload", opt.workload_name, "point | mixed | point-prepared | mixed-prepared | trivial")
        ->check(CLI::IsMember({"point", "mixed", "point-prepared", "mixed-prepared", "trivial"}))
        ->capture_default_str();
    app.add_option("-t,--threads", opt.threads, "threads, one session each")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_option("-s,--seconds", opt.seconds, "measured seconds")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    app.add_option("--warmup", opt.warmup, "warm-up seconds before measuring")
        ->check(CLI::Range(0.0, 600.0))
        ->capture_default_str();
    app.add_option("--rows", opt.rows, "aid is uniform over 1..rows (pgbench: 100000 x scale)")
        ->check(CLI::Range(1, 2000000000))
        ->capture_default_str();
    app.add_option("--write-percent", opt.write_percent, "share of updates in the mixed workloads")
        ->check(CLI::Range(0, 100))
        ->capture_default_str();
    app.add_option("--seed", opt.seed, "random seed (each thread derives its own)")->capture_default_str();
    app.add_option("-l,--label", opt.label, "a name for this path in the output (default: the backend name)");
    app.add_flag("--json", opt.json, "print one JSON object on one line instead of the human line");
    CLI11_PARSE(app, argc, argv);

    if (opt.workload_name == "point") {
        opt.kind = workload::point;
    } else if (opt.workload_name == "mixed") {
        opt.kind = workload::mixed;
    } else if (opt.workload_name == "trivial") {
        opt.kind = workload::trivial;
    } else if (opt.workload_name == "point-prepared") {
        opt.kind = workload::point_prepared;
    } else {
        opt.kind = workload::mixed_prepared;
    }
    for (auto const& c : opt.connects) {
        opt.connect += (opt.connect.empty() ? "" : " | ") + c;
    }
    if (opt.label.empty()) {
        auto const pos = opt.connect.find("://");
        opt.label = pos == std::string::npos ? "session" : opt.connect.substr(0, pos);
    }

    start_gate gate;
    std::vector<thread_result> results(static_cast<std::size_t>(opt.threads));
    std::vector<std::thread> threads;
    threads.reserve(results.size());
    for (int i = 0; i < opt.threads; ++i) {
        results[static_cast<std::size_t>(i)].latencies_ns.reserve(
            static_cast<std::size_t>(std::min(opt.seconds, 60.0) * 20000.0));
        threads.emplace_back(worker, std::cref(opt), i, std::ref(gate), std::ref(results[static_cast<std::size_t>(i)]));
    }

    std::string connect_error;
    {
        std::unique_lock<std::mutex> lock(gate.m);
        gate.cv.wait(lock, [&] { return gate.ready == opt.threads; });
        for (auto const& r : results) {
            if (!r.connect_error.empty()) {
                connect_error = r.connect_error;
                break;
            }
        }
        auto const now = clock_type::now();
        gate.measure_begin = now + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt.warmup));
        gate.measure_end = gate.measure_begin +
                           std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(opt.seconds));
        if (connect_error.empty()) {
            gate.go = true;
        } else {
            gate.abort = true;
        }
        gate.cv.notify_all();
    }
    if (!connect_error.empty()) {
        for (auto& t : threads) {
            t.join();
        }
        std::fprintf(stderr, "soci-routing-bench: connecting to %s failed: %s\n",
                     mask_password(opt.connect).c_str(), mask_password(connect_error).c_str());
        return 2;
    }

    std::this_thread::sleep_until(gate.measure_begin);
    auto const cpu0 = cpu_now();
    std::this_thread::sleep_until(gate.measure_end);
    auto const cpu1 = cpu_now();
    for (auto& t : threads) {
        t.join();
    }

    std::vector<std::uint32_t> all;
    std::uint64_t reads = 0, writes = 0, misses = 0, errors = 0, warmup_ops = 0, allocations = 0;
    double thread_user = 0, thread_sys = 0;
    long thread_switches = 0;
    std::string first_error;
    std::size_t total = 0;
    for (auto const& r : results) {
        total += r.latencies_ns.size();
    }
    all.reserve(total);
    for (auto& r : results) {
        all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
        reads += r.reads;
        writes += r.writes;
        misses += r.misses;
        errors += r.errors;
        warmup_ops += r.warmup_ops;
        allocations += r.allocations;
        thread_user += r.thread_user;
        thread_sys += r.thread_sys;
        thread_switches += r.thread_involuntary_switches;
        if (first_error.empty() && !r.first_error.empty()) {
            first_error = mask_password(r.first_error);
        }
    }
    std::uint64_t const ops = reads + writes;
    double const ops_per_s = static_cast<double>(ops) / opt.seconds;
    double mean_us = 0.0;
    for (auto v : all) {
        mean_us += static_cast<double>(v);
    }
    mean_us = all.empty() ? 0.0 : mean_us / static_cast<double>(all.size()) / 1000.0;
    double const p50 = percentile_us(all, 0.50);
    double const p99 = percentile_us(all, 0.99);
    double const cpu_user = cpu1.user - cpu0.user;
    double const cpu_sys = cpu1.sys - cpu0.sys;
    auto const per_op = [ops](double v) { return ops == 0 ? 0.0 : v / static_cast<double>(ops); };
    double const cpu_us_per_op = per_op((cpu_user + cpu_sys) * 1e6);
    double const worker_cpu_us_per_op = per_op((thread_user + thread_sys) * 1e6);
    // Counted over the statements that completed in the window, as the latencies.
    double const allocs_per_op =
        all.empty() ? 0.0 : static_cast<double>(allocations) / static_cast<double>(all.size());

    if (opt.json) {
        nlohmann::json j{{"label", opt.label},
                         {"connect", mask_password(opt.connect)},
                         {"workload", opt.workload_name},
                         {"threads", opt.threads},
                         {"seconds", opt.seconds},
                         {"warmup", opt.warmup},
                         {"rows", opt.rows},
                         {"ops", ops},
                         {"reads", reads},
                         {"writes", writes},
                         {"misses", misses},
                         {"errors", errors},
                         {"warmup_ops", warmup_ops},
                         {"ops_per_s", ops_per_s},
                         {"mean_us", mean_us},
                         {"p50_us", p50},
                         {"p99_us", p99},
                         {"cpu_user_s", cpu_user},
                         {"cpu_sys_s", cpu_sys},
                         {"cpu_us_per_op", cpu_us_per_op},
                         {"user_us_per_op", per_op(cpu_user * 1e6)},
                         {"sys_us_per_op", per_op(cpu_sys * 1e6)},
                         {"involuntary_switches_per_op",
                          per_op(static_cast<double>(cpu1.involuntary_switches - cpu0.involuntary_switches))},
                         // The worker threads' own CPU (RUSAGE_THREAD) over the same window; the rest of
                         // cpu_us_per_op ran on the process's other threads.
                         {"worker_cpu_us_per_op", worker_cpu_us_per_op},
                         {"worker_user_us_per_op", per_op(thread_user * 1e6)},
                         {"worker_sys_us_per_op", per_op(thread_sys * 1e6)},
                         {"worker_involuntary_switches_per_op", per_op(static_cast<double>(thread_switches))},
                         {"other_threads_cpu_us_per_op", cpu_us_per_op - worker_cpu_us_per_op},
                         {"allocations_per_op", bench_alloc::counting() ? nlohmann::json(allocs_per_op)
                                                                        : nlohmann::json(nullptr)},
                         {"first_error", first_error}};
        std::puts(j.dump().c_str());
    } else {
        fmt::print("{:<12} {:<15} threads={} {:>9.0f} ops/s  p50={:.0f}us p99={:.0f}us  errors={}  "
                   "cpu/stmt={:.1f}us (workers {:.1f}us) allocs/stmt={}  (reads={} writes={} misses={}, {:.1f}s)\n",
                   opt.label, opt.workload_name, opt.threads, ops_per_s, p50, p99, errors, cpu_us_per_op,
                   worker_cpu_us_per_op,
                   bench_alloc::counting() ? fmt::format("{:.1f}", allocs_per_op) : std::string("n/a"), reads,
                   writes, misses, opt.seconds);
        if (!first_error.empty()) {
            fmt::print("  first error: {}\n", first_error);
        }
    }
    std::fflush(stdout);
    return ops == 0 ? 1 : 0;
}
