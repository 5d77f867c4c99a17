// A plain SOCI program built against an installed soci-routing, the way a user builds one: with
// find_package(SociRouting) (cmake/) or with pkg-config (pkg-config/). ci/test-package builds and runs both.
//
// Opens a routing session from the TOML file in $SOCI_ROUTING_PG_TOML (eval "$(ci/clusters env)"), writes a
// row and reads it back, and prints where each statement went and which plugin file SOCI loaded. Exits 0 on
// success, 1 on a failure, 2 when the environment is missing.

#include <soci/soci.h>
#include <soci/routing/soci-routing.h>

#include <link.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

int main()
{
    char const* const toml = std::getenv("SOCI_ROUTING_PG_TOML");
    if (toml == nullptr || *toml == '\0')
    {
        std::cerr << "consumer: SOCI_ROUTING_PG_TOML is not set (eval \"$(ci/clusters env)\")\n";
        return 2;
    }
    try
    {
        soci::session sql(std::string("routing://config=") + toml);

        // SOCI dlopen()s the plugin by name; the optional API below runs in the copy this program links. They
        // must be one file, or the session is not one the linked copy knows.
        std::vector<std::string> plugins;
        dl_iterate_phdr(
            [](dl_phdr_info* info, std::size_t, void* found) {
                std::string const path = info->dlpi_name != nullptr ? info->dlpi_name : "";
                if (path.find("libsoci_routing.so") != std::string::npos)
                    static_cast<std::vector<std::string>*>(found)->push_back(path);
                return 0;
            },
            &plugins);
        for (std::string const& path : plugins)
            std::cout << "soci-routing " << SOCI_ROUTING_VERSION_STRING << ", plugin " << path << '\n';
        if (plugins.size() != 1 || !soci::routing.is_routed(sql))
        {
            std::cerr << "consumer: SOCI loaded another libsoci_routing than the one this program links\n";
            return 1;
        }

        sql << "create table if not exists soci_routing_consumer (id serial primary key, note text not null)";
        std::string const note = "consumer " + std::to_string(::getpid());
        sql << "insert into soci_routing_consumer (note) values (:note)", soci::use(note);
        std::cout << "insert: " << soci::routing.last_endpoint(sql) << " (" << soci::routing.last_reason(sql)
                  << ")\n";

        std::string read;
        sql << "select note from soci_routing_consumer where note = :note", soci::use(note), soci::into(read);
        std::cout << "select: " << soci::routing.last_endpoint(sql) << " (" << soci::routing.last_reason(sql)
                  << ")\n";
        sql << "delete from soci_routing_consumer where note = :note", soci::use(note);

        if (read != note)
        {
            std::cerr << "consumer: read \"" << read << "\" back instead of \"" << note << "\"\n";
            return 1;
        }
        return 0;
    }
    catch (std::exception const& e)
    {
        std::cerr << "consumer: " << e.what() << '\n';
        return 1;
    }
}
