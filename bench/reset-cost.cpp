// reset-cost: what a pooled connection's clean-up costs when it is given back dirty (session state changed),
// against giving it back clean, on one endpoint's pool (the primary of a routing configuration).
//
//   reset-cost CONFIG [ITERATIONS]      CONFIG: a TOML file or a routing://... string (its primary is used)
//
// Each iteration leases a connection, runs one statement on it and gives it back: `SELECT 1` (clean: no round
// trip on return), or `SET application_name` marked as session state (dirty: the pool resets it on return —
// PostgreSQL RESET ALL and friends in one round trip, MySQL mysql_reset_connection()). Interleaved in blocks,
// reported per iteration: wall time and the process's CPU time (user + system) in µs, and the difference.
#include "bench-clock.h"
#include "config.h"
#include "pools.h"

#include <cstdio>
#include <exception>
#include <string>

namespace
{

using bench::cost;

/// `count` leases of the pool, each running `statement` and given back (dirty: marked as session state).
void run(soci_routing::endpoint_pool& pool, bool dirty, char const* statement, int count, cost& c)
{
    c.add(
        [&] {
            soci_routing::lease l = pool.acquire();
            if (!l)
                throw std::runtime_error("no connection: " + pool.exhausted_message());
            l.session() << statement;
            if (dirty)
                l.mark_dirty(soci_routing::dirt_session);
        },  // given back (and reset when dirty) here
        count);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
    {
        std::fprintf(stderr, "usage: %s CONFIG [ITERATIONS]\n", argv[0]);
        return 2;
    }
    try
    {
        int const iterations = argc > 2 ? std::stoi(argv[2]) : 5000;
        soci_routing::cluster_config config = soci_routing::load_source(argv[1]);
        config.replicas.clear();
        soci_routing::cluster c(config);
        soci_routing::endpoint_pool& pool = c.primary();
        char const* set = config.primary.drv == soci_routing::driver::mysql ? "SET @@session.sql_mode = 'ANSI'"
                                                                             : "SET application_name = 'reset-cost'";
        cost clean, dirty;
        run(pool, false, "SELECT 1", 200, clean);  // warm-up
        run(pool, true, set, 200, dirty);
        clean = dirty = cost{};
        int const block = 250;
        for (int done = 0; done < iterations; done += block)
        {
            run(pool, false, "SELECT 1", block, clean);
            run(pool, true, set, block, dirty);
        }
        std::printf("%s primary, %ld iterations each, µs per iteration (wall / client CPU):\n",
                    soci_routing::to_string(config.primary.drv), clean.n);
        std::printf("  clean return (SELECT 1)            %8.1f / %6.1f\n", clean.wall_us(), clean.cpu_us());
        std::printf("  dirty return (%s, reset) %8.1f / %6.1f\n", set, dirty.wall_us(), dirty.cpu_us());
        std::printf("  reset: +%.1f µs wall, +%.1f µs client CPU per dirty return\n", dirty.wall_us() - clean.wall_us(),
                    dirty.cpu_us() - clean.cpu_us());
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "reset-cost: %s\n", soci_routing::redact(e.what()).c_str());
        return 1;
    }
}
