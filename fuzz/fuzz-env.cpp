// Fuzz target: the environment loader (routing.env_prefix). The input is lines of NAME=VALUE, set as
// FZ_NAME=VALUE in the environment, over a fixed TOML file with env_prefix = "FZ"; loading either succeeds or
// fails with a config_error. The variables are removed again after each input.

#include "config.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string const text(reinterpret_cast<char const*>(data), size);
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start <= text.size() && names.size() < 64)
    {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        std::string const line = text.substr(start, end - start);
        start = end + 1;
        std::size_t const eq = line.find('=');
        if (eq == std::string::npos || eq == 0 || line.find('\0') != std::string::npos)
            continue;
        std::string const name = "FZ_" + line.substr(0, eq);
        if (name.find('=') != std::string::npos)
            continue;
        if (setenv(name.c_str(), line.c_str() + eq + 1, 1) == 0)
            names.push_back(name);
    }
    try
    {
        soci_routing::cluster_config const c = soci_routing::load_toml(
            "[routing]\nenv_prefix = \"FZ\"\n[primary]\nhost = \"db\"\n[[replicas]]\nhost = \"r1\"\n", "fuzz.toml");
        (void)soci_routing::to_toml(c);
    }
    catch (soci_routing::config_error const&)
    {
    }
    for (auto const& n : names)
        unsetenv(n.c_str());
    return 0;
}
