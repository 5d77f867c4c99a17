// soci-routing: explain routing decisions, print the resolved configuration, check readiness.

#include "commands.h"

int main(int argc, char** argv)
{
    CLI::App app{"soci-routing: read/write splitting for SOCI sessions", "soci-routing"};
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
