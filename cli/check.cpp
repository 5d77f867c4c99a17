// soci-routing check SOURCE [--format text|json]: connects to every endpoint and checks that the cluster is
// ready (the primary reachable and writable, reads servable); exit status 0 when ready, 1 otherwise.

#include "commands.h"

#include "config.h"
#include "pools.h"

#include <iostream>
#include <memory>
#include <string>

namespace soci_routing_cli
{

void add_check_command(CLI::App& app, int& exit_code)
{
    struct options
    {
        std::string source;
        std::string format = "text";
    };
    auto opts = std::make_shared<options>();
    auto* cmd = app.add_subcommand(
        "check", "Connect to every endpoint with fresh connections, verify roles (primary writable, replicas in "
                 "recovery / read-only), report latency and replication lag; exit 0 when ready");
    cmd->add_option("source", opts->source, "a TOML file, or an inline routing://... connect string")->required();
    cmd->add_option("--format", opts->format, "output format")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->callback([opts, &exit_code] {
        soci_routing::cluster_config config;
        try
        {
            config = soci_routing::load_source(opts->source);
        }
        catch (soci_routing::config_error const& e)
        {
            std::cerr << e.what() << '\n';  // config_error's text is already redacted
            exit_code = 1;
            return;
        }
        catch (std::exception const& e)
        {
            std::cerr << "soci-routing check: " << soci_routing::redact(e.what()) << '\n';
            exit_code = 1;
            return;
        }
        // A warning, not an error: containers often run as root with a file mounted world-readable.
        if (std::string const w = soci_routing::password_file_warning(opts->source); !w.empty())
            std::cerr << w << '\n';
        soci::routing_check const result = soci_routing::check_cluster(config);
        std::cout << (opts->format == "json" ? result.to_json() + "\n" : result.to_text()) << std::flush;
        exit_code = result.ready() ? 0 : 1;
    });
}

} // namespace soci_routing_cli
