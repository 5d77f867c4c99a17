// soci-routing classify: where would SQL go, and why.

#include "commands.h"

#include "classifier.h"
#include "transaction-mode.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace soci_routing_cli
{

namespace
{

struct classify_settings
{
    std::string dialect_name = "postgresql";
    bool nul_separated = false;
    std::vector<std::string> statements;
};

void print(std::string const& sql, soci_routing::dialect d)
{
    soci_routing::classification const c = soci_routing::classify(sql, d);
    // BEGIN READ ONLY and the like: the whole transaction runs on a replica (with no session state against it).
    if (c.begins_transaction && soci_routing::begins_replica_transaction(sql, d))
        std::cout << "replica\tread_only_transaction\n" << std::flush;
    else
        std::cout << soci_routing::to_string(c.where) << '\t' << soci_routing::to_string(c.why) << '\n'
                  << std::flush; // one line per statement, at once: usable as a co-process
}

} // namespace

void add_classify_command(CLI::App& app, int& exit_code)
{
    auto settings = std::make_shared<classify_settings>();
    CLI::App* cmd = app.add_subcommand(
        "classify", "Print where each SQL statement would be routed (replica or primary), a tab, and the reason");
    cmd->footer("Statements come from the arguments; without any, from standard input, one per line "
                "(or NUL-separated with -0).\nExample: soci-routing classify 'SELECT 1' 'SELECT 1 FOR UPDATE'");
    cmd->add_option("--dialect", settings->dialect_name, "SQL dialect: postgresql (default) or mysql (MariaDB too)")
        ->check(CLI::IsMember({"postgresql", "mysql"}, CLI::ignore_case));
    cmd->add_flag("-0,--null", settings->nul_separated, "Standard input holds NUL-separated statements");
    cmd->add_option("sql", settings->statements, "SQL statements (one per argument)");

    cmd->callback([settings, &exit_code] {
        soci_routing::dialect const d =
            settings->dialect_name == "mysql" ? soci_routing::dialect::mysql : soci_routing::dialect::postgresql;
        if (!settings->statements.empty())
        {
            for (auto const& sql : settings->statements) print(sql, d);
            exit_code = 0;
            return;
        }
        char const separator = settings->nul_separated ? '\0' : '\n';
        std::string sql;
        while (std::getline(std::cin, sql, separator)) print(sql, d);
        // std::cin reads through C's stdin (synchronised with stdio): a read error is recorded there.
        if (std::cin.bad() || std::ferror(stdin))
        {
            std::cerr << "soci-routing classify: could not read standard input\n";
            exit_code = 1;
            return;
        }
        exit_code = 0;
    });
}

} // namespace soci_routing_cli
