// soci-routing failover tests: the plugin exports what its public header declares.
//
// An application links libsoci_routing for the optional API of soci-routing.h. Every out-of-line function
// declared there must be a dynamic symbol of the plugin, or the application does not link.

#include <boost/test/unit_test.hpp>

#include <dlfcn.h>

#include <string>

BOOST_AUTO_TEST_SUITE(plugin)

BOOST_AUTO_TEST_CASE(plugin_exports_every_function_of_the_public_header)
{
    // The name SOCI's loader opens; it is this test's own dependency, so this finds the loaded copy.
    void* plugin = dlopen("libsoci_routing.so.4.0", RTLD_LAZY | RTLD_NOLOAD);
    BOOST_REQUIRE_MESSAGE(plugin != nullptr, "libsoci_routing.so.4.0 is not loaded: " << dlerror());
    struct symbol
    {
        char const* mangled;
        char const* what;
    };
    symbol const symbols[] = {
        {"factory_routing", "factory_routing()"},
        {"register_factory_routing", "register_factory_routing()"},
        {"_ZN4soci7routingE", "soci::routing"},
        {"_ZNK4soci23routing_backend_factory13last_endpointB5cxx11ERNS_7sessionE", "routing_backend_factory::last_endpoint"},
        {"_ZNK4soci23routing_backend_factory11last_reasonB5cxx11ERNS_7sessionE", "routing_backend_factory::last_reason"},
        {"_ZNK4soci23routing_backend_factory5statsERNS_7sessionE", "routing_backend_factory::stats"},
        {"_ZNK4soci23routing_backend_factory5checkERNS_7sessionE", "routing_backend_factory::check(session&)"},
        {"_ZNK4soci23routing_backend_factory5checkERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
         "routing_backend_factory::check(std::string const&)"},
        {"_ZNK4soci13routing_stats7to_jsonB5cxx11Ev", "routing_stats::to_json()"},
        {"_ZNK4soci13routing_stats13to_prometheusB5cxx11Ev", "routing_stats::to_prometheus()"},
        {"_ZNK4soci13routing_check7to_textB5cxx11Ev", "routing_check::to_text()"},
        {"_ZNK4soci13routing_check7to_jsonB5cxx11Ev", "routing_check::to_json()"},
        {"_ZN4soci19routing_use_primaryC1ERNS_7sessionE", "routing_use_primary::routing_use_primary(session&)"},
        {"_ZN4soci19routing_use_replicaC1ERNS_7sessionE", "routing_use_replica::routing_use_replica(session&)"},
    };
    for (symbol const& s : symbols)
        BOOST_CHECK_MESSAGE(dlsym(plugin, s.mangled) != nullptr,
                            "the plugin does not export " << s.what << " (" << s.mangled << ")");
    dlclose(plugin);
}

BOOST_AUTO_TEST_SUITE_END()
