// Fuzz target: the inline connect-string loader (`primary='postgresql://...' replica='...' sticky=5`). Any
// input either loads or fails with a config_error; nothing else may escape.

#include "config.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string const text(reinterpret_cast<char const*>(data), size);
    try
    {
        soci_routing::cluster_config const c = soci_routing::load_connect_string(text);
        (void)soci_routing::to_toml(c);
        (void)soci_routing::to_json(c);
    }
    catch (soci_routing::config_error const&)
    {
    }
    return 0;
}
