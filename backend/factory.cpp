// soci-routing: the factory SOCI's loader resolves (factory_routing) and the static registration.

#include "soci-routing-backend.h"

#include <soci/backend-loader.h>

namespace soci
{

routing_backend_factory const routing;

details::session_backend* routing_backend_factory::make_session(connection_parameters const& parameters) const
{
    return new soci_routing::routing_session_backend(parameters);
}

} // namespace soci

extern "C"
{

SOCI_ROUTING_DECL soci::backend_factory const* factory_routing()
{
    // Called with SOCI's loader lock held: touch nothing of dynamic_backends here.
    return &soci::routing;
}

SOCI_ROUTING_DECL void register_factory_routing()
{
    soci::dynamic_backends::register_backend("routing", soci::routing);
}

} // extern "C"
