// causal: read-your-writes by time window against causal positions, through routing://, on the test clusters
// (or any primary with replicas).
//
//   causal CONFIG [WRITES]      CONFIG: a TOML file; WRITES: per mode (default 2000)
//
// One session writes a row (autocommit) and reads it back at once, WRITES times, while another thread commits
// in a tight loop on the primary (a commit burst, which makes replicas lag). Modes, interleaved in rounds of
// 250: `window` with sticky = 0 (reads go to replicas at once), `window` with sticky = 1.0, and `causal`
// (default causal_timeout). For each: stale reads (the row not found, or an old value), the share of reads a
// replica served, and the client's wall time per write and per read. Then a session that only reads while the
// burst goes on: the share of its reads on replicas, per mode.
#include <soci/routing/soci-routing.h>
#include <soci/soci.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace
{

using clock_type = std::chrono::steady_clock;

struct mode
{
    char const* name;
    char const* options;
    long stale = 0;
    long on_replica = 0;
    long n = 0;
    double write_s = 0;
    double read_s = 0;
    long reader_on_replica = 0;
    long reader_n = 0;
};

double since(clock_type::time_point t)
{
    return std::chrono::duration<double>(clock_type::now() - t).count();
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2)
    {
        std::fprintf(stderr, "usage: %s CONFIG [WRITES]\n", argv[0]);
        return 2;
    }
    try
    {
        std::string const config = std::string("config=") + argv[1];
        long const writes = argc > 2 ? std::stol(argv[2]) : 2000;
        std::vector<mode> modes{{"window, sticky = 0", "consistency=window sticky=0"},
                                {"window, sticky = 1.0", "consistency=window sticky=1.0"},
                                {"causal", "consistency=causal sticky=0"}};
        std::string const table = "bench_causal_" + std::to_string(::getpid());
        std::string const burst_table = table + "_burst";
        std::vector<std::unique_ptr<soci::session>> sessions;
        for (auto const& m : modes)
            sessions.push_back(std::make_unique<soci::session>(soci::routing, config + " " + m.options));
        soci::session& admin = *sessions.front();
        bool const mysql = admin.get_backend_name() == "mysql";
        {
            auto guard = soci::routing.use_primary(admin);
            admin << "DROP TABLE IF EXISTS " + table;
            admin << "DROP TABLE IF EXISTS " + burst_table;
            admin << "CREATE TABLE " + table + " (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)";
            admin << "CREATE TABLE " + burst_table + " (id INTEGER NOT NULL, v INTEGER NOT NULL)";
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));  // the tables reach the replicas

        // The commit burst: autocommit inserts on the primary as fast as one connection goes.
        std::atomic<bool> stop{false};
        std::atomic<long> burst_commits{0};
        std::thread burst([&] {
            try
            {
                soci::session b(soci::routing, config + " consistency=window sticky=0");
                int i = 0;
                while (!stop.load())
                {
                    b << "INSERT INTO " + burst_table + " (id, v) VALUES (:i, 1)", soci::use(i);
                    ++i;
                    burst_commits.fetch_add(1);
                }
            }
            catch (std::exception const& e)
            {
                std::fprintf(stderr, "burst: %s\n", e.what());
            }
        });

        long const round = 250;
        long next_id = 1;
        auto const t0 = clock_type::now();
        for (long done = 0; done < writes; done += round)
        {
            for (std::size_t k = 0; k != modes.size(); ++k)
            {
                mode& m = modes[k];
                soci::session& sql = *sessions[k];
                for (long i = 0; i != round; ++i)
                {
                    int const id = static_cast<int>(next_id++);
                    int const value = id * 3;
                    auto const w = clock_type::now();
                    sql << "INSERT INTO " + table + " (id, v) VALUES (:id, :v)", soci::use(id), soci::use(value);
                    m.write_s += since(w);
                    int seen = -1;
                    soci::indicator ind = soci::i_null;
                    auto const r = clock_type::now();
                    sql << "SELECT v FROM " + table + " WHERE id = :id", soci::use(id), soci::into(seen, ind);
                    m.read_s += since(r);
                    if (ind != soci::i_ok || seen != value)
                        ++m.stale;
                    if (soci::routing.last_endpoint(sql) != "primary")
                        ++m.on_replica;
                    ++m.n;
                }
            }
        }
        double const loop_s = since(t0);

        // A session that only reads while the burst goes on.
        for (std::size_t k = 0; k != modes.size(); ++k)
        {
            soci::session reader(soci::routing, config + " " + modes[k].options);
            for (int i = 0; i != 1000; ++i)
            {
                int v = 0;
                reader << "SELECT count(*) FROM " + table + " WHERE id < 10", soci::into(v);
                if (soci::routing.last_endpoint(reader) != "primary")
                    ++modes[k].reader_on_replica;
                ++modes[k].reader_n;
            }
        }
        stop.store(true);
        burst.join();

        // The replicas' lag at the end of the burst, as the causal session's stats saw it.
        std::printf("causal (%s): %ld writes then reads per mode, interleaved in rounds of %ld; commit burst on "
                    "the primary: %ld commits in %.1f s\n\n",
                    mysql ? "MariaDB" : "PostgreSQL", writes, round, burst_commits.load(), loop_s);
        std::printf("| mode | stale reads | reads on replicas | write, µs | read, µs | read-only session on replicas |\n");
        std::printf("|---|---:|---:|---:|---:|---:|\n");
        for (mode const& m : modes)
            std::printf("| %s | %ld of %ld | %.1f %% | %.0f | %.0f | %.1f %% |\n", m.name, m.stale, m.n,
                        100.0 * static_cast<double>(m.on_replica) / static_cast<double>(m.n),
                        m.write_s * 1e6 / static_cast<double>(m.n), m.read_s * 1e6 / static_cast<double>(m.n),
                        100.0 * static_cast<double>(m.reader_on_replica) / static_cast<double>(m.reader_n));
        auto const s = soci::routing.stats(*sessions.back());
        std::uint64_t waits = 0, timeouts = 0, to_primary = 0;
        double waited = 0;
        for (auto const& e : s.endpoints)
        {
            waits += e.causal_waits;
            timeouts += e.causal_wait_timeouts;
            waited += e.causal_wait_seconds;
            to_primary += e.causal_primary;
        }
        std::printf("\ncausal: %llu waits (%.0f µs on average), %llu ran out at causal_timeout, %llu reads sent to "
                    "the primary for lack of a caught-up replica\n",
                    static_cast<unsigned long long>(waits), waits != 0 ? waited * 1e6 / static_cast<double>(waits) : 0.0,
                    static_cast<unsigned long long>(timeouts), static_cast<unsigned long long>(to_primary));
        {
            auto guard = soci::routing.use_primary(admin);
            admin << "DROP TABLE IF EXISTS " + table;
            admin << "DROP TABLE IF EXISTS " + burst_table;
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "causal: %s\n", e.what());
        return 1;
    }
}
