// Routing sessions that outlive main(): a static soci::session, a static soci::connection_pool of routing
// sessions, a statement in an atexit handler, a session opened at exit; and a worker thread's thread_local
// session, closed as the thread ends. Each scenario runs in its own process (exit-time-sessions.cpp),
// which must end normally with every statement answered: the plugin must not touch the main thread's
// thread_local objects once the process has destroyed them, nor anything else destroyed before the
// application's statics.

#define BOOST_TEST_MODULE routing_exit
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace
{

struct outcome
{
    int status = -1;  ///< exit status; 128 + N for signal N
    std::string output;
};

outcome run(std::string const& scenario)
{
    std::string const out =
        (std::filesystem::temp_directory_path() / ("exit-time-" + scenario + "-" + std::to_string(getpid()) + ".log"))
            .string();
    std::string const command = std::string("'") + EXIT_TIME_SESSIONS + "' " + scenario + " >'" + out + "' 2>&1";
    int const raw = std::system(command.c_str());
    outcome o;
    if (raw != -1 && WIFEXITED(raw))
        o.status = WEXITSTATUS(raw);
    std::ifstream in(out);
    std::ostringstream text;
    text << in.rdbuf();
    o.output = text.str();
    std::remove(out.c_str());
    return o;
}

void check(std::string const& scenario, std::string const& expected)
{
    outcome const o = run(scenario);
    BOOST_TEST_MESSAGE(scenario << ": status " << o.status << "\n" << o.output);
    // The shell reports a signal as 128 + N (134: SIGABRT, from the allocator finding its heap corrupted).
    BOOST_TEST(o.status == 0, scenario << " ended with status " << o.status << ":\n" << o.output);
    BOOST_TEST(o.output == expected, scenario << " printed:\n" << o.output << "expected:\n" << expected);
}

} // namespace

BOOST_AUTO_TEST_SUITE(routing_exit)

BOOST_AUTO_TEST_CASE(static_routing_session_runs_and_closes_after_main_returns)
{
    check("static-session", "main: 1\nrequest: 2\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_CASE(static_connection_pool_of_routing_sessions_closes_after_main_returns)
{
    check("static-pool", "main: 1\nrequest: 2\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_CASE(statement_in_an_atexit_handler_runs_on_a_function_static_session)
{
    check("function-static", "main: 1\nrequest: 2\nexit: 2\n");
}

BOOST_AUTO_TEST_CASE(thread_local_routing_session_runs_and_closes_when_its_thread_ends)
{
    check("thread-local", "thread: 1\nthread request: 2\nthread exit: 2\nthread closed\nmain: 1\nrequest: 2\n");
}

BOOST_AUTO_TEST_CASE(routing_session_opened_at_exit_shares_the_cluster_of_a_static_one)
{
    check("open-at-exit", "main: 1\nmain: 1\nmain: 1\nmain: 1\nrequest: 2\nexit: 2\nclosed\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_SUITE_END()
