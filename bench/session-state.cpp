// session-state: what a routing session's settings and read-only transactions cost, through routing://, on the
// test clusters (or any).
//
//   session-state CONFIG [READS]      CONFIG: a TOML file (routing://config=CONFIG sticky=0 is opened)
//
// 1. Reads after settings: one session runs the start-up an ORM would (PostgreSQL: application_name and a
//    statement_timeout; MySQL: SET NAMES utf8mb4 and a time zone) and then one-time point reads; another session
//    runs the same reads without settings. Interleaved blocks; per read: wall time and the process's CPU time
//    (user + system) in µs, and where the reads ran (the settings are replayed once per replica connection,
//    which the pool keeps with the session). Before this work, the first session would have read from the
//    primary only.
// 2. Read-only transactions of 5 reads: BEGIN READ ONLY ... COMMIT (on one replica) against the same 5 reads
//    in autocommit (each on a replica), and in a read-write transaction (on the primary). Per transaction.
#include "bench-clock.h"

#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <cstdio>
#include <exception>
#include <string>

namespace
{

using bench::cost;

std::uint64_t replica_statements(soci::session& sql)
{
    std::uint64_t n = 0;
    for (auto const& e : soci::routing.stats(sql).endpoints)
        if (e.role == "replica")
            n += e.statements;
    return n;
}

std::uint64_t replays(soci::session& sql)
{
    std::uint64_t n = 0;
    for (auto const& e : soci::routing.stats(sql).endpoints)
        n += e.settings_replays;
    return n;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
    {
        std::fprintf(stderr, "usage: %s CONFIG [READS]\n", argv[0]);
        return 2;
    }
    try
    {
        int const reads = argc > 2 ? std::stoi(argv[2]) : 10000;
        std::string const cs = std::string("config=") + argv[1] + " sticky=0";
        soci::session with(soci::routing, cs);
        soci::session without(soci::routing, cs);
        bool const mysql = with.get_backend_name() == "mysql";  // the primary's driver
        if (mysql)
        {
            with << "SET NAMES utf8mb4";
            with << "SET time_zone = '+00:00'";
        }
        else
        {
            with << "SET application_name = 'session-state-bench'";
            with << "SET statement_timeout = '30s'";
        }
        int v = 0;
        auto read = [&v](soci::session& s) { return [&v, p = &s] { *p << "SELECT 1", soci::into(v); }; };
        cost set_cost, plain_cost;
        set_cost.add(read(with), 200);  // warm-up: connections opened, settings replayed
        plain_cost.add(read(without), 200);
        set_cost = plain_cost = cost{};
        std::uint64_t const before = replica_statements(with);
        int const block = 500;
        for (int done = 0; done < reads; done += block)
        {
            set_cost.add(read(with), block);
            plain_cost.add(read(without), block);
        }
        std::uint64_t const on_replicas = replica_statements(with) - before;
        std::printf("%s, %ld one-time reads per session, µs per read (wall / client CPU):\n",
                    mysql ? "MySQL/MariaDB" : "PostgreSQL", set_cost.n);
        std::printf("  after two SETs           %7.1f / %5.1f\n", set_cost.wall_us(), set_cost.cpu_us());
        std::printf("  without settings         %7.1f / %5.1f\n", plain_cost.wall_us(), plain_cost.cpu_us());
        std::printf("  ratio (settings / none)  %7.2f / %5.2f   reads on replicas: %llu of %ld (both sessions); "
                    "settings replays in all: %llu\n",
                    set_cost.wall_us() / plain_cost.wall_us(), set_cost.cpu_us() / plain_cost.cpu_us(),
                    static_cast<unsigned long long>(on_replicas), 2 * set_cost.n,
                    static_cast<unsigned long long>(replays(with)));

        // 2. Transactions of 5 reads.
        int const transactions = reads / 10;
        auto five = [&](soci::session& s) {
            for (int i = 0; i < 5; ++i)
                s << "SELECT 1", soci::into(v);
        };
        soci::session& s = without;
        auto read_only = [&] {
            soci::routing_read_only_transaction tr(s);
            five(s);
            tr.commit();
        };
        auto autocommit = [&] { five(s); };
        auto read_write = [&] {
            soci::transaction tr(s);
            five(s);
            tr.commit();
        };
        cost ro, ac, rw;
        ro.add(read_only, 50);
        ac.add(autocommit, 50);
        rw.add(read_write, 50);
        ro = ac = rw = cost{};
        for (int done = 0; done < transactions; done += 100)
        {
            ro.add(read_only, 100);
            ac.add(autocommit, 100);
            rw.add(read_write, 100);
        }
        std::printf("%ld transactions of 5 reads each, µs per transaction (wall / client CPU):\n", ro.n);
        std::printf("  read-only transaction (one replica)   %7.1f / %5.1f\n", ro.wall_us(), ro.cpu_us());
        std::printf("  autocommit reads (replicas)           %7.1f / %5.1f\n", ac.wall_us(), ac.cpu_us());
        std::printf("  read-write transaction (primary)      %7.1f / %5.1f\n", rw.wall_us(), rw.cpu_us());
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "session-state: %s\n", e.what());
        return 1;
    }
}
