// A program that links SOCI's core alone and asks SOCI for the routing backend, as `soci::session` does for
// routing://, without a server: ci/test-package runs it against the installed .deb to show that SOCI finds the
// plugin by name with neither LD_LIBRARY_PATH nor SOCI_BACKENDS_PATH. Prints the file SOCI loaded.
//   c++ -std=c++17 -o plain-loader plain-loader.cpp -lsoci_core

#include <soci/soci.h>

#include <link.h>

#include <cstddef>
#include <exception>
#include <iostream>
#include <string>

int main()
{
    try
    {
        soci::dynamic_backends::register_backend("routing");
    }
    catch (std::exception const& e)
    {
        std::cerr << "plain-loader: " << e.what() << '\n';
        return 1;
    }
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void*) {
            std::string const path = info->dlpi_name != nullptr ? info->dlpi_name : "";
            if (path.find("libsoci_routing.so") != std::string::npos)
                std::cout << "plugin " << path << '\n';
            return 0;
        },
        nullptr);
    return 0;
}
