// soci-routing config SOURCE [--format toml|json]: prints the resolved configuration, passwords as ***.

#include "commands.h"

#include "config.h"

#include <iostream>
#include <memory>
#include <string>

namespace soci_routing_cli
{

void add_config_command(CLI::App& app, int& exit_code)
{
    struct options
    {
        std::string source;
        std::string format = "toml";
    };
    auto opts = std::make_shared<options>();
    auto* cmd = app.add_subcommand(
        "config", "Print the resolved configuration (every endpoint with inherited fields, its driver connect "
                  "string, passwords as ***)");
    cmd->add_option("source", opts->source, "a TOML file, or an inline routing://... connect string")->required();
    cmd->add_option("-f,--format", opts->format, "output format")
        ->check(CLI::IsMember({"toml", "json"}))
        ->capture_default_str();
    cmd->callback([opts, &exit_code] {
        try
        {
            auto const config = soci_routing::load_source(opts->source);
            // A warning, not an error: containers often run as root with a file mounted world-readable.
            if (std::string const w = soci_routing::password_file_warning(opts->source); !w.empty())
                std::cerr << w << '\n';
            std::cout << (opts->format == "json" ? soci_routing::to_json(config) : soci_routing::to_toml(config));
            exit_code = 0;
        }
        catch (soci_routing::config_error const& e)
        {
            std::cerr << e.what() << '\n';  // config_error's text is already redacted
            exit_code = 1;
        }
        catch (std::exception const& e)
        {
            std::cerr << "soci-routing config: " << soci_routing::redact(e.what()) << '\n';
            exit_code = 1;
        }
    });
}

} // namespace soci_routing_cli
