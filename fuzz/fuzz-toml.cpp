// Fuzz target: the TOML configuration loader. Any input either loads (and then renders as TOML and JSON, as
// `soci-routing config` shows it) or fails with a config_error; nothing else may escape.

#include "config.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    soci_routing::cluster_config c;
    try
    {
        c = soci_routing::load_toml(text, "fuzz.toml");
    }
    catch (soci_routing::config_error const&)
    {
        return 0;
    }
    // What `soci-routing config` prints (redacted, with derived keys: not meant to be loaded again).
    (void)soci_routing::to_toml(c);
    (void)soci_routing::to_json(c);
    return 0;
}
