// reset-cost: what a pooled connection's clean-up costs when it is given back dirty (session state changed),
// against giving it back clean, on one endpoint's pool (the primary of a routing configuration).
//
//   reset-cost CONFIG [ITERATIONS]      CONFIG: a TOML file or a routing://... string (its primary is used)
//
// Each iteration leases a connection, runs one statement on it and gives it back: `SELECT 1` (clean: no round
// trip on return), or `SET application_name` marked as session state (dirty: the pool resets it on return —
// PostgreSQL RESET ALL and friends in one round trip, MySQL mysql_reset_connection()). Interleaved in blocks,
// reported per iteration: wall time and the process's CPU time (user + system) in µs, and the difference.
#include "config.h"
#include "pools.h"


#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace
{

using clock_type = std::chrono::steady_clock;

double cpu_seconds()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
        + static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct cost
{
    double wall = 0;
    double cpu = 0;
    long n = 0;
};

void run(soci_routing::endpoint_pool& pool, bool dirty, char const* statement, int count, cost& c)
{
    auto const t0 = clock_type::now();
    double const c0 = cpu_seconds();
    for (int i = 0; i < count; ++i)
    {
        soci_routing::lease l = pool.acquire();
        if (!l)
            throw std::runtime_error("no connection: " + pool.exhausted_message());
        l.session() << statement;
        if (dirty)
            l.mark_dirty(soci_routing::dirt_session);
    }  // given back (and reset when dirty) here
    c.wall += std::chrono::duration<double>(clock_type::now() - t0).count();
    c.cpu += cpu_seconds() - c0;
    c.n += count;
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
        auto per = [](double seconds, long n) { return seconds * 1e6 / static_cast<double>(n); };
        std::printf("%s primary, %ld iterations each, µs per iteration (wall / client CPU):\n",
                    soci_routing::to_string(config.primary.drv), clean.n);
        std::printf("  clean return (SELECT 1)            %8.1f / %6.1f\n", per(clean.wall, clean.n),
                    per(clean.cpu, clean.n));
        std::printf("  dirty return (%s, reset) %8.1f / %6.1f\n", set, per(dirty.wall, dirty.n),
                    per(dirty.cpu, dirty.n));
        std::printf("  reset: +%.1f µs wall, +%.1f µs client CPU per dirty return\n",
                    per(dirty.wall, dirty.n) - per(clean.wall, clean.n), per(dirty.cpu, dirty.n) - per(clean.cpu, clean.n));
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "reset-cost: %s\n", soci_routing::redact(e.what()).c_str());
        return 1;
    }
}
