// soci-routing CLI: one file per subcommand, each adding itself to the application.

#ifndef SOCI_ROUTING_CLI_COMMANDS_H_INCLUDED
#define SOCI_ROUTING_CLI_COMMANDS_H_INCLUDED

#include <CLI/CLI.hpp>

namespace soci_routing_cli
{

/// Each adds its subcommand to `app`; the callback it installs runs the command and sets `exit_code`.
void add_classify_command(CLI::App& app, int& exit_code);
void add_config_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);

} // namespace soci_routing_cli

#endif
