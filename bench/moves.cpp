// moves: where the time of placing and moving statements goes, from the plugin's own counters (stats:
// placements, moves, lease / prepare / replay time, new connections and their connect time), beside plain SOCI
// running the same statements. On the test clusters (the environment `ci/clusters env` prints).
//
//   moves [postgresql|mysql] [SECONDS]      SECONDS per workload (default 3)
//
// One thread, one session. Every replica entry points at the primary's port, as ci/soci-suites' "every read
// moved" run does: no replication lag, only the routing layer (leases, preparing on the new connection,
// replaying bindings). Workloads:
//   once    `SELECT :x` with a use and an into, one-time: each statement is placed once (a lease, a prepare, the
//           bindings replayed) where plain SOCI prepares on its own connection;
//   moved   one prepared `SELECT :x`, executed alternately under use_primary and not: every execution moves the
//           statement between the primary's connection and a replica's.
// Output: a Markdown table; times per statement (plain and routing wall time) and per placement.
#include "bench-env.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

namespace
{

using bench::env;
using clock_type = std::chrono::steady_clock;

struct totals
{
    std::uint64_t placements = 0, moves = 0, connections = 0;
    double lease = 0, prepare = 0, replay = 0, connect = 0;
};

totals sum(soci::session& sql)
{
    totals t;
    for (auto const& e : soci::routing.stats(sql).endpoints)
    {
        t.placements += e.placements;
        t.moves += e.moves;
        t.connections += e.connections_opened;
        t.lease += e.placement_lease_seconds;
        t.prepare += e.placement_prepare_seconds;
        t.replay += e.placement_replay_seconds;
        t.connect += e.connect_seconds;
    }
    return t;
}

/// Runs `step` for `seconds`; returns the statements run and the wall time.
std::pair<long, double> timed(double seconds, std::function<void()> const& step)
{
    long n = 0;
    auto const start = clock_type::now();
    auto const end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    auto now = start;
    while (now < end)
    {
        step();
        ++n;
        now = clock_type::now();
    }
    return {n, std::chrono::duration<double>(now - start).count()};
}

} // namespace

int main(int argc, char** argv)
{
    try
    {
        std::string const driver = argc > 1 ? argv[1] : "postgresql";
        double const seconds = argc > 2 ? std::stod(argv[2]) : 3.0;
        bool const pg = driver == "postgresql";
        std::string const primary = env(pg ? "SOCI_ROUTING_PG_PRIMARY" : "SOCI_ROUTING_MYSQL_PRIMARY");
        std::string const routed_cs = "primary='" + driver + "://" + primary + "' replica='" + driver + "://" + primary
                                      + " name=moves-replica' sticky=0";

        std::printf("moves (%s): one thread, every replica entry on the primary's port, %.0f s per workload\n\n"
                    "| workload | plain µs/stmt | routing µs/stmt | routing / plain | placements/stmt | moves/stmt "
                    "| lease µs | prepare µs | replay µs | rest µs | new connections (connect ms) |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                    driver.c_str(), seconds);

        soci::session plain(driver, primary);
        soci::session routed(soci::routing, routed_cs);
        int x = 1;
        int y = 0;

        auto report = [&](char const* name, std::pair<long, double> p, std::pair<long, double> r, totals const& a,
                          totals const& b) {
            double const plain_us = p.second * 1e6 / static_cast<double>(p.first);
            double const routed_us = r.second * 1e6 / static_cast<double>(r.first);
            double const n = static_cast<double>(r.first);
            double const placements = static_cast<double>(b.placements - a.placements);
            auto per_placement = [&](double seconds_total) {
                return placements > 0 ? seconds_total * 1e6 / placements : 0.0;
            };
            // What routing adds per statement beyond the three phases: classification, choosing the route,
            // the element proxies, the lease's give-back (as a difference of wall times: an estimate).
            double const phases = ((b.lease - a.lease) + (b.prepare - a.prepare) + (b.replay - a.replay)) * 1e6 / n;
            std::printf("| %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f | %.1f | %llu (%.1f) |\n", name,
                        plain_us, routed_us, routed_us / plain_us, placements / n,
                        static_cast<double>(b.moves - a.moves) / n, per_placement(b.lease - a.lease),
                        per_placement(b.prepare - a.prepare), per_placement(b.replay - a.replay),
                        routed_us - plain_us - phases, static_cast<unsigned long long>(b.connections - a.connections),
                        (b.connect - a.connect) * 1e3);
        };

        {
            auto plain_step = [&] { plain << "SELECT :x", soci::use(x), soci::into(y); };
            auto routed_step = [&] { routed << "SELECT :x", soci::use(x), soci::into(y); };
            timed(0.3, plain_step);
            auto const p = timed(seconds, plain_step);
            timed(0.3, routed_step);
            totals const before = sum(routed);
            auto const r = timed(seconds, routed_step);
            totals const after = sum(routed);
            report("once: one-time SELECT :x, a use and an into", p, r, before, after);
        }
        {
            soci::statement ps = (plain.prepare << "SELECT :x", soci::use(x), soci::into(y));
            timed(0.3, [&] { ps.execute(true); });
            auto const p = timed(seconds, [&] { ps.execute(true); });
            soci::statement rs = (routed.prepare << "SELECT :x", soci::use(x), soci::into(y));
            bool on_primary = false;
            auto step = [&] {
                on_primary = !on_primary;
                if (on_primary)
                {
                    auto guard = soci::routing.use_primary(routed);
                    rs.execute(true);
                }
                else
                {
                    rs.execute(true);
                }
            };
            timed(0.3, step);
            totals const before = sum(routed);
            auto const r = timed(seconds, step);
            totals const after = sum(routed);
            report("moved: a prepared SELECT :x, each execution on the other endpoint", p, r, before, after);
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "moves: %s\n", e.what());
        return 1;
    }
}
