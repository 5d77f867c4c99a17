// soci-routing: the use proxy (by position or by name). Records the binding and forwards to the inner element
// of the statement's current inner statement; element_proxy replays it when the statement moves.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_standard_use_type_backend::~routing_standard_use_type_backend()
{
    clean_up();
}

void routing_standard_use_type_backend::bind_by_pos(int& position, void* data, exchange_type type, bool read_only)
{
    position_ = position;
    by_name_ = false;
    data_ = data;
    type_ = type;
    read_only_ = read_only;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    define(&position);
}

void routing_standard_use_type_backend::bind_by_name(std::string const& name, void* data, exchange_type type,
                                                     bool read_only)
{
    name_ = name;
    by_name_ = true;
    data_ = data;
    type_ = type;
    read_only_ = read_only;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    define(nullptr);
}

void routing_standard_use_type_backend::pre_exec(int num)
{
    forward_pre_exec(num);
}

void routing_standard_use_type_backend::pre_use(soci::indicator const* ind)
{
    inner().pre_use(ind);
    last_ind_ = ind;
    note_pre();
}

void routing_standard_use_type_backend::post_use(bool got_data, soci::indicator* ind)
{
    inner().post_use(got_data, ind);
}

void routing_standard_use_type_backend::clean_up()
{
    forget_definition();
}

standard_use_type_backend* routing_standard_use_type_backend::make_inner(statement_backend& st)
{
    return st.make_use_type_backend();
}

void routing_standard_use_type_backend::apply_definition(standard_use_type_backend& inner, int& position)
{
    if (by_name_)
        inner.bind_by_name(name_, data_, type_, read_only_);
    else
        inner.bind_by_pos(position, data_, type_, read_only_);
}

void routing_standard_use_type_backend::replay_pre(standard_use_type_backend& inner)
{
    inner.pre_use(last_ind_);
}

} // namespace soci_routing
