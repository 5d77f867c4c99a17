// A program whose routing sessions outlive main(), as an application's often do: a static soci::session or
// soci::connection_pool, closed by the static destructors when the process exits. By then the main thread's
// thread_local objects are gone (they are destroyed first) and so is any static object made after the
// application's. Run by routing_exit_test (test-exit-time.cpp), one scenario per process:
//
//   exit-time-sessions static-session | static-pool | function-static | thread-local | open-at-exit
//
// It prints what each statement returned and exits 0; a statement that fails exits 1; a crash or a heap
// corruption found by the allocator ends it with a signal.
//
// The cluster comes from the environment `ci/clusters env` prints (SOCI_ROUTING_TEST_DRIVER picks the driver).

#include <soci/soci.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>

namespace
{

std::string connect_string()
{
    char const* driver = std::getenv("SOCI_ROUTING_TEST_DRIVER");
    bool const mysql = driver != nullptr && std::string(driver) == "mysql";
    char const* toml = std::getenv(mysql ? "SOCI_ROUTING_MYSQL_TOML" : "SOCI_ROUTING_PG_TOML");
    if (toml == nullptr || *toml == '\0')
    {
        std::fprintf(stderr, "exit-time-sessions: the test clusters' environment is not set (ci/clusters env)\n");
        std::exit(2);
    }
    return std::string("routing://config=") + toml + " sticky=0 rebalance=0";
}

// Runs `SELECT n` (a read: on a replica) and prints "WHEN: n".
void select(soci::session& sql, int n, char const* when)
{
    try
    {
        int got = 0;
        // Longer than a short string's inline buffer: the text is on the heap (the plugin keeps texts per thread).
        sql << "SELECT " + std::to_string(n) + " AS exit_time_sessions_value", soci::into(got);
        std::printf("%s: %d\n", when, got);
        std::fflush(stdout);
        if (got != n)
            std::_Exit(1);
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "exit-time-sessions: %s: %s\n", when, e.what());
        std::_Exit(1);
    }
}

// Made before main(), before SOCI loads the plugin: destroyed after everything the plugin makes.
struct static_session
{
    std::unique_ptr<soci::session> sql;
    ~static_session()
    {
        if (!sql)
            return;
        select(*sql, 2, "exit");
        sql.reset();
        std::printf("closed\n");
    }
} early_session;

struct static_pool
{
    std::unique_ptr<soci::connection_pool> pool;
    ~static_pool()
    {
        if (!pool)
            return;
        {
            soci::session sql(*pool);
            select(sql, 2, "exit");
        }
        pool.reset();
        std::printf("closed\n");
    }
} early_pool;

// Opens a new routing session at exit (as a shutdown hook that logs to the database does), after whatever the
// plugin made once the application's statics were made is gone. The static session above is still open then
// (statics end in the reverse order of their making), so the new session shares its cluster and its pooled
// connections: on PostgreSQL a new connection cannot be made at exit at all, with or without routing (libpq's
// OpenSSL, which SCRAM uses, is cleaned up by then; plain SOCI crashes the same way).
struct open_at_exit
{
    bool armed = false;
    ~open_at_exit()
    {
        if (!armed)
            return;
        soci::session sql(connect_string());
        select(sql, 2, "exit");
        std::printf("closed\n");
    }
} late_open;

// A worker thread's own session, as `thread_local`: destroyed when the thread ends, after the plugin's
// thread_local objects it touched first (they are destroyed in the reverse order of their construction).
struct thread_session
{
    std::unique_ptr<soci::session> sql;
    ~thread_session()
    {
        if (!sql)
            return;
        select(*sql, 2, "thread exit");
        sql.reset();
        std::printf("thread closed\n");
    }
};

soci::session& function_static()
{
    static soci::session sql(connect_string());
    return sql;
}

} // namespace

int main(int argc, char** argv)
{
    std::string const scenario = argc > 1 ? argv[1] : "";
    try
    {
        if (scenario == "static-session")
        {
            early_session.sql = std::make_unique<soci::session>(connect_string());
            select(*early_session.sql, 1, "main");
        }
        else if (scenario == "static-pool")
        {
            early_pool.pool = std::make_unique<soci::connection_pool>(2);
            for (std::size_t i = 0; i != 2; ++i)
                early_pool.pool->at(i).open(connect_string());
            soci::session sql(*early_pool.pool);
            select(sql, 1, "main");
        }
        else if (scenario == "function-static")
        {
            select(function_static(), 1, "main");
            std::atexit([] { select(function_static(), 2, "exit"); });
        }
        else if (scenario == "open-at-exit")
        {
            // rebalance=0 (in the connect string): consecutive reads take turns over the replicas, so each
            // replica's pool holds an idle connection the session opened at exit finds.
            early_session.sql = std::make_unique<soci::session>(connect_string());
            for (int i = 0; i != 4; ++i)
                select(*early_session.sql, 1, "main");
            late_open.armed = true;
        }
        else if (scenario == "thread-local")
        {
            std::thread worker([] {
                thread_local thread_session mine;
                mine.sql = std::make_unique<soci::session>(connect_string());
                select(*mine.sql, 1, "thread");
                {
                    soci::session request(connect_string());
                    select(request, 2, "thread request");
                }
            });
            worker.join();
            select(*std::make_unique<soci::session>(connect_string()), 1, "main");
        }
        else
        {
            std::fprintf(stderr, "usage: exit-time-sessions static-session|static-pool|function-static|thread-local|open-at-exit\n");
            return 2;
        }
    }
    catch (std::exception const& e)
    {
        std::fprintf(stderr, "exit-time-sessions: %s\n", e.what());
        return 1;
    }
    {
        // As an application does during its life: a session opened and closed on this thread (the plugin keeps
        // per thread what a reconnect() would need), running the statement the exit runs again.
        soci::session request(connect_string());
        select(request, 2, "request");
    }
    return 0;
}
