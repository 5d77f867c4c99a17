// soci-routing: explain routing decisions, print the resolved configuration, check readiness.

#include "commands.h"

#include <soci/routing/soci-routing.h>

int main(int argc, char** argv)
{
    CLI::App app{"soci-routing: read/write splitting for SOCI sessions", "soci-routing"};
    // Checked before the subcommand is required: `soci-routing --version` alone is a complete command.
    app.set_version_flag("--version", "soci-routing " SOCI_ROUTING_VERSION_STRING);
    app.require_subcommand(1);
    int exit_code = 0;
#ifdef SOCI_ROUTING_CLI_CLASSIFY
    soci_routing_cli::add_classify_command(app, exit_code);
#endif
#ifdef SOCI_ROUTING_CLI_CONFIG
    soci_routing_cli::add_config_command(app, exit_code);
#endif
#ifdef SOCI_ROUTING_CLI_CHECK
    soci_routing_cli::add_check_command(app, exit_code);
#endif
    CLI11_PARSE(app, argc, argv);
    return exit_code;
}
