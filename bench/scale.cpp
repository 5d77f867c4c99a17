// scale: how routing's cost grows with threads, open sessions and replicas, beside a plain SOCI session where
// one exists. On the test clusters (the environment `ci/clusters env` prints).
//
//   scale [postgresql|mysql] [SECONDS]      SECONDS per point (default 2)
//   scale postgresql|mysql SECONDS sessions ROUNDS
//                                           only part 2, ROUNDS interleaved rounds (10, 100, 1,000 routed and
//                                           10, 100 plain in each), the medians and the spread of each point
//
// SCALE_ROUTING_OPTIONS (environment): more inline options for every routing session (as `rebalance=0`), to
// see what a setting does to a curve.
//
// Each point runs `SELECT :x` (a read, on a replica) for SECONDS and reports ops/s and p99 latency:
// 1. threads 1..64, each with its own session, over pools of at most 8 connections per endpoint (routing);
//    the same threads each with a plain session (a connection each), the sessions split over the replicas as
//    routing's are (session i on replica i mod n); and the same threads leasing per statement from SOCI's own
//    connection_pool of 8 sessions per replica (the same cap as routing's);
// 2. open sessions 10, 100, 1,000 (4 threads take turns over them; most are idle at any time), sharing the
//    pools: the resident memory each session adds, and the throughput; plain sessions beside (one connection
//    each, while the server's max_connections allows);
// 3. replica entries 1, 2, 4, 8 (several pointing at the same standby), 4 threads.
// Output: Markdown tables, with routing/plain ratios where there is a plain column.
#include "bench-env.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace
{

using bench::env;
using clock_type = std::chrono::steady_clock;

long rss_kb()
{
    std::ifstream f("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    f >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct result
{
    double ops = 0;
    double p99_us = 0;
    long errors = 0;
};

result summarize(std::vector<std::vector<std::uint32_t>> const& latencies, long errors, double seconds);

/// Runs `threads` threads for `seconds`; thread t runs the statements that `make_step(t)` returns, one call
/// each, timed; a statement that throws counts as an error.
result run_threads(int threads, double seconds, std::function<std::function<void()>(int)> const& make_step)
{
    std::atomic<bool> stop{false};
    std::vector<std::vector<std::uint32_t>> latencies(static_cast<std::size_t>(threads));
    std::atomic<long> errors{0};
    std::vector<std::thread> pool;
    for (int t = 0; t != threads; ++t)
    {
        pool.emplace_back([&, t] {
            auto& lat = latencies[static_cast<std::size_t>(t)];
            lat.reserve(200000);
            std::function<void()> const step = make_step(t);
            while (!stop.load(std::memory_order_relaxed))
            {
                auto const s = clock_type::now();
                try
                {
                    step();
                }
                catch (std::exception const&)
                {
                    errors.fetch_add(1);
                }
                lat.push_back(static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - s).count()));
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (auto& th : pool)
        th.join();
    return summarize(latencies, errors.load(), seconds);
}

/// Runs `SELECT :x` for `seconds` on `threads` threads; thread t uses the sessions i with i % threads == t, in
/// turn.
result run(std::vector<std::unique_ptr<soci::session>>& sessions, int threads, double seconds)
{
    return run_threads(threads, seconds, [&](int t) -> std::function<void()> {
        auto i = std::make_shared<std::size_t>(static_cast<std::size_t>(t));
        auto xy = std::make_shared<std::pair<int, int>>(t, 0);
        return [&sessions, threads, t, i, xy] {
            soci::session& sql = *sessions[*i];
            *i += static_cast<std::size_t>(threads);
            if (*i >= sessions.size())
                *i = static_cast<std::size_t>(t);
            sql << "SELECT :x", soci::use(xy->first), soci::into(xy->second);
        };
    });
}

result summarize(std::vector<std::vector<std::uint32_t>> const& latencies, long errors, double seconds)
{
    std::vector<std::uint32_t> all;
    for (auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    result r;
    r.errors = errors;
    r.ops = static_cast<double>(all.size()) / seconds;
    if (!all.empty())
    {
        std::size_t const k = std::min(all.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(all.size())));
        std::nth_element(all.begin(), all.begin() + static_cast<long>(k), all.end());
        r.p99_us = all[k];
    }
    return r;
}

/// SOCI's own pool, the like-for-like of routing's cap: `size` sessions per replica, thread t leasing from
/// replica t mod n's pool for each statement (soci::session(connection_pool&)), as routing leases per statement.
struct plain_pools
{
    std::vector<std::unique_ptr<soci::connection_pool>> pools;

    plain_pools(std::string const& backend, std::vector<std::string> const& replicas, std::size_t size)
    {
        for (auto const& r : replicas)
        {
            pools.push_back(std::make_unique<soci::connection_pool>(size));
            for (std::size_t i = 0; i != size; ++i)
                pools.back()->at(i).open(backend, r);
        }
    }
};

result run_pooled(plain_pools& p, int threads, double seconds)
{
    return run_threads(threads, seconds, [&](int t) -> std::function<void()> {
        soci::connection_pool& mine = *p.pools[static_cast<std::size_t>(t) % p.pools.size()];
        auto xy = std::make_shared<std::pair<int, int>>(t, 0);
        return [&mine, xy] {
            soci::session sql(mine);
            sql << "SELECT :x", soci::use(xy->first), soci::into(xy->second);
        };
    });
}

std::vector<std::unique_ptr<soci::session>> open(std::string const& backend, std::string const& cs, int n)
{
    std::vector<std::unique_ptr<soci::session>> v;
    for (int i = 0; i != n; ++i)
        v.push_back(std::make_unique<soci::session>(backend, cs));
    return v;
}

/// Plain sessions split over the replicas (session i on replica i mod n): the servers routing's sessions use.
std::vector<std::unique_ptr<soci::session>> open_plain(std::string const& backend,
                                                       std::vector<std::string> const& replicas, int n)
{
    std::vector<std::unique_ptr<soci::session>> v;
    for (int i = 0; i != n; ++i)
        v.push_back(std::make_unique<soci::session>(backend, replicas[static_cast<std::size_t>(i) % replicas.size()]));
    return v;
}

double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    std::size_t const n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// Part 2 alone, in interleaved rounds: each round measures 10, 100 and 1,000 routed sessions and 10 and 100
/// plain ones, each opened for its point (as in the full run) and warmed up 0.3 s. A single pass of each point
/// moves by 10% and more between runs on a small machine; the medians of rounds say whether a fall from one
/// count to the next is more than that.
int sessions_rounds(std::string const& driver, std::vector<std::string> const& replicas, std::string const& routing,
                    double seconds, int rounds)
{
    std::vector<int> const counts{10, 100, 1000};
    std::vector<std::vector<double>> routed(counts.size()), plain(counts.size());
    std::printf("open sessions, %d interleaved rounds (4 threads take turns over them); ops/s\n\n", rounds);
    for (int round = 0; round != rounds; ++round)
    {
        for (std::size_t i = 0; i != counts.size(); ++i)
        {
            int const n = counts[i];
            {
                auto sessions = open("routing", routing, n);
                run(sessions, 4, 0.3);
                routed[i].push_back(run(sessions, 4, seconds).ops);
            }
            if (n <= 100)
            {
                auto sessions = open_plain(driver, replicas, n);
                run(sessions, 4, 0.3);
                plain[i].push_back(run(sessions, 4, seconds).ops);
            }
        }
        std::fprintf(stderr, "round %d: routing", round + 1);
        for (auto const& r : routed)
            std::fprintf(stderr, " %.0f", r.back());
        std::fprintf(stderr, ", plain %.0f %.0f\n", plain[0].back(), plain[1].back());
    }
    auto range = [](std::vector<double> const& v) {
        if (v.empty())
            return std::string("-");
        auto const [lo, hi] = std::minmax_element(v.begin(), v.end());
        return std::to_string(static_cast<long>(*lo)) + "–" + std::to_string(static_cast<long>(*hi));
    };
    auto pct = [](double v, double base) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%+.1f%%", 100.0 * (v / base - 1.0));
        return std::string(buf);
    };
    std::printf("| sessions | routing ops/s (median) | routing, rounds | vs 10 sessions | plain ops/s (median) | plain, "
                "rounds | vs 10 sessions | routing / plain |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (std::size_t i = 0; i != counts.size(); ++i)
    {
        double const r = median(routed[i]);
        double const p = median(plain[i]);
        bool const has_plain = !plain[i].empty();
        char ratio[16] = "-";
        if (has_plain && p > 0)
            std::snprintf(ratio, sizeof ratio, "%.2f", r / p);
        std::printf("| %d | %.0f | %s | %s | %s | %s | %s | %s |\n", counts[i], r, range(routed[i]).c_str(),
                    pct(r, median(routed[0])).c_str(), has_plain ? std::to_string(std::lround(p)).c_str() : "-",
                    range(plain[i]).c_str(), has_plain ? pct(p, median(plain[0])).c_str() : "-", ratio);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try
    {
        std::string const driver = argc > 1 ? argv[1] : "postgresql";
        double const seconds = argc > 2 ? std::stod(argv[2]) : 2.0;
        bool const pg = driver == "postgresql";
        std::string const primary = env(pg ? "SOCI_ROUTING_PG_PRIMARY" : "SOCI_ROUTING_MYSQL_PRIMARY");
        std::vector<std::string> replicas{env(pg ? "SOCI_ROUTING_PG_REPLICA_1" : "SOCI_ROUTING_MYSQL_REPLICA_1")};
        if (pg)
            replicas.push_back(env("SOCI_ROUTING_PG_REPLICA_2"));
        // An inline configuration: pools of at most 8 per endpoint, `entries` replica entries over the real
        // replicas in turn, a tag that makes it its own cluster.
        auto routing_cs = [&](int entries, std::string const& tag) {
            std::string cs = "primary='" + driver + "://" + primary + " pool_max=8' sticky=0";
            if (char const* more = std::getenv("SCALE_ROUTING_OPTIONS"))
                cs += std::string(" ") + more;
            for (int i = 0; i != entries; ++i)
                cs += " replica='" + replicas[static_cast<std::size_t>(i) % replicas.size()] + " pool_max=8 name=" + tag
                      + "-" + std::to_string(i + 1) + "'";
            return cs;
        };
        std::printf("scale (%s): SELECT :x, %.0f s per point, pools of 8 per endpoint; %s; load %s\n\n",
                    driver.c_str(), seconds, pg ? "primary + 2 standbys" : "primary + 1 replica", [] {
                        static char buf[64] = "?";
                        if (FILE* f = std::fopen("/proc/loadavg", "r"))
                        {
                            if (std::fgets(buf, sizeof buf, f) == nullptr)
                                buf[0] = '\0';
                            std::fclose(f);
                        }
                        return buf;
                    }());

        if (argc > 3 && std::string(argv[3]) == "sessions")
            return sessions_rounds(driver, replicas, routing_cs(static_cast<int>(replicas.size()), "sessions"), seconds,
                                   argc > 4 ? std::stoi(argv[4]) : 5);

        std::printf("open sessions (4 threads take turns over them)\n\n| sessions | heap per session, KB | RSS per 1,000 sessions, MB | "
                    "routing ops/s | routing p99 µs | plain ops/s | plain p99 µs |\n|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int n : {10, 100, 1000})
        {
            long const before = rss_kb();
            std::size_t const heap_before = mallinfo2().uordblks;
            auto routed = open("routing", routing_cs(static_cast<int>(replicas.size()), "sessions"), n);
            long const after = rss_kb();
            double const heap_kb = static_cast<double>(mallinfo2().uordblks - heap_before) / 1024.0 / n;
            run(routed, 4, 0.3);
            result const r = run(routed, 4, seconds);
            std::string plain_ops = "-";
            std::string plain_p99 = "-";
            if (n <= 100)
            {
                auto plain = open_plain(driver, replicas, n);
                run(plain, 4, 0.3);
                result const p = run(plain, 4, seconds);
                plain_ops = std::to_string(static_cast<long>(p.ops));
                plain_p99 = std::to_string(static_cast<long>(p.p99_us));
            }
            else
                plain_ops = "n/a: a connection each";
            std::printf("| %d | %.1f | %.1f | %.0f | %.0f | %s | %s |\n", n, heap_kb,
                        static_cast<double>(after - before) / 1024.0 * 1000.0 / n, r.ops, r.p99_us, plain_ops.c_str(),
                        plain_p99.c_str());
        }

        // Plain SOCI two ways: a session (so a connection) per thread, and SOCI's connection_pool of 8 per replica
        // (the same cap as routing's: past 8 threads per replica, threads wait for each other in both).
        std::printf("\nthreads (each with its own session)\n\n| threads | routing ops/s | routing p99 µs | plain ops/s | "
                    "plain p99 µs | routing / plain | plain pool of 8 ops/s | pool p99 µs | routing / plain pool |\n"
                    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int t : {1, 2, 4, 8, 16, 32, 64})
        {
            auto routed = open("routing", routing_cs(static_cast<int>(replicas.size()), "threads"), t);
            run(routed, t, 0.3);  // warm-up: connections open
            result const r = run(routed, t, seconds);
            auto plain = open_plain(driver, replicas, t);
            run(plain, t, 0.3);
            result const p = run(plain, t, seconds);
            plain.clear();
            plain_pools pooled(driver, replicas, 8);
            run_pooled(pooled, t, 0.3);
            result const q = run_pooled(pooled, t, seconds);
            std::printf("| %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", t, r.ops, r.p99_us, p.ops,
                        p.p99_us, p.ops > 0 ? r.ops / p.ops : 0.0, q.ops, q.p99_us, q.ops > 0 ? r.ops / q.ops : 0.0);
            if (r.errors + p.errors + q.errors != 0)
                std::printf("|  | errors: routing %ld, plain %ld, plain pool %ld | | | | | | | |\n", r.errors, p.errors,
                            q.errors);
        }

        std::printf("\nreplica entries (4 threads; entries beyond the real replicas point at the same servers)\n\n"
                    "| entries | routing ops/s | routing p99 µs |\n|---:|---:|---:|\n");
        for (int e : {1, 2, 4, 8})
        {
            auto routed = open("routing", routing_cs(e, "entries" + std::to_string(e)), 4);
            run(routed, 4, 0.3);
            result const r = run(routed, 4, seconds);
            std::printf("| %d | %.0f | %.0f |\n", e, r.ops, r.p99_us);
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "scale: %s\n", e.what());
        return 1;
    }
}
