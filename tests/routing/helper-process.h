// Runs a helper program of the routing tests in a process of its own and checks how it ended: the exit-time
// and fork tests, whose helpers end processes (exit handlers, static destructors, fork()) in ways a test
// runner must not share.

#ifndef SOCI_ROUTING_TESTS_HELPER_PROCESS_H_INCLUDED
#define SOCI_ROUTING_TESTS_HELPER_PROCESS_H_INCLUDED

#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace helper_process
{

struct outcome
{
    int status = -1;  ///< exit status; 128 + N for signal N
    std::string output;
    std::string notes;  ///< a sanitizer's lines ("==PID==..."), apart
};

/// Runs `program scenario`, its standard output and error together.
inline outcome run(std::string const& program, std::string const& scenario)
{
    std::string const out = (std::filesystem::temp_directory_path()
                             / (std::filesystem::path(program).filename().string() + "-" + scenario + "-"
                                + std::to_string(getpid()) + ".log"))
                                .string();
    std::string const command = "'" + program + "' " + scenario + " >'" + out + "' 2>&1";
    int const raw = std::system(command.c_str());
    outcome o;
    if (raw != -1 && WIFEXITED(raw))
        o.status = WEXITSTATUS(raw);
    std::ifstream in(out);
    std::string line;
    while (std::getline(in, line))
    {
        // A sanitizer's notes ("==PID==Running thread N was not suspended", LeakSanitizer in a child of fork()
        // whose parent had threads) are not the program's output; an error it finds sets the exit status.
        if (line.size() > 2 && line.compare(0, 2, "==") == 0 && line.find("==", 2) != std::string::npos)
            o.notes += line + "\n";
        else
            o.output += line + "\n";
    }
    in.close();
    std::remove(out.c_str());
    return o;
}

/// The scenario must end with status 0 and print exactly `expected`.
inline void check(std::string const& program, std::string const& scenario, std::string const& expected)
{
    outcome const o = run(program, scenario);
    BOOST_TEST_MESSAGE(scenario << ": status " << o.status << "\n" << o.output << o.notes);
    // The shell reports a signal as 128 + N (134: SIGABRT, from the allocator finding its heap corrupted).
    BOOST_TEST(o.status == 0, scenario << " ended with status " << o.status << ":\n" << o.output << o.notes);
    BOOST_TEST(o.output == expected, scenario << " printed:\n" << o.output << "expected:\n" << expected);
}

} // namespace helper_process

#endif // SOCI_ROUTING_TESTS_HELPER_PROCESS_H_INCLUDED
