// The plugin's per-statement functions are linked next to each other (backend/hot-functions.txt, gold's
// --section-ordering-file; README, "Where the time goes"). This reads the built plugin's symbol table with nm: every
// function the list names exists (a renamed or removed one leaves the list stale: re-run bench/hot-functions, or
// delete the line), and together they take about their own size, not the plugin's whole code. No server.
// Registered only when the build orders the plugin (SOCI_ROUTING_HOT_LINK).

#define BOOST_TEST_MODULE routing_hot_layout
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace
{

struct symbol
{
    std::uint64_t address = 0;
    std::uint64_t size = 0;
};

// The plugin's defined functions with a size, by symbol name (`nm -S --defined-only`).
std::map<std::string, symbol> functions_of(std::string const& library)
{
    std::string const command = "nm -S --defined-only '" + library + "'";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    BOOST_TEST_REQUIRE(pipe.get() != nullptr, "cannot run: " << command);
    std::map<std::string, symbol> out;
    char line[8192];
    while (std::fgets(line, sizeof line, pipe.get()) != nullptr) {
        std::istringstream in(line);
        std::string address, size, type, name;
        if (!(in >> address >> size >> type >> name) || (type != "t" && type != "T" && type != "W" && type != "w"))
            continue;
        out[name] = symbol{std::stoull(address, nullptr, 16), std::stoull(size, nullptr, 16)};
    }
    return out;
}

// The symbols of backend/hot-functions.txt: one section a line, `.text.<symbol>`.
std::vector<std::string> listed_symbols()
{
    std::ifstream in(SOCI_ROUTING_HOT_LIST);
    BOOST_TEST_REQUIRE(in.good(), "cannot read " << SOCI_ROUTING_HOT_LIST);
    std::vector<std::string> out;
    std::string const prefix = ".text.";
    for (std::string line; std::getline(in, line);)
        if (line.compare(0, prefix.size(), prefix) == 0)
            out.push_back(line.substr(prefix.size()));
    return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_listed_per_statement_function_exists_in_the_plugin)
{
    auto const functions = functions_of(SOCI_ROUTING_PLUGIN_FILE);
    auto const listed = listed_symbols();
    BOOST_TEST_REQUIRE(listed.size() > 50u, "backend/hot-functions.txt lists " << listed.size() << " functions");
    for (auto const& name : listed)
        BOOST_TEST(functions.count(name) == 1u,
                   name << " is listed in backend/hot-functions.txt but not in the plugin: re-run bench/hot-functions");
}

BOOST_AUTO_TEST_CASE(per_statement_functions_are_linked_together)
{
    auto const functions = functions_of(SOCI_ROUTING_PLUGIN_FILE);
    std::uint64_t first = UINT64_MAX, end = 0, own = 0;
    for (auto const& name : listed_symbols()) {
        auto const it = functions.find(name);
        if (it == functions.end())
            continue; // the test above names it
        first = std::min(first, it->second.address);
        end = std::max(end, it->second.address + it->second.size);
        own += it->second.size;
    }
    BOOST_TEST_REQUIRE(own > 0u);
    // Alignment padding between functions is a few bytes each; spread over the plugin, the span is ~15 times
    // their size.
    BOOST_TEST(end - first <= own + own / 8,
               "the listed functions take " << own << " bytes but span " << (end - first)
                                            << " bytes of the plugin: not linked together");
}
