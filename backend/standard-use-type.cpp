// soci-routing: the use proxy. Records the binding and the last indicator SOCI passed to pre_use, so that a
// statement moving to another endpoint in the middle of an execution binds the same values there.

#include "soci-routing-backend.h"

namespace soci_routing
{

using namespace soci::details;

routing_standard_use_type_backend::~routing_standard_use_type_backend()
{
    clean_up();
}

standard_use_type_backend& routing_standard_use_type_backend::inner()
{
    if (!inner_ && statement_ != nullptr)
        statement_->ensure_inner();
    if (!inner_)
        throw soci::soci_error("routing: use element used after its statement was cleaned up");
    return *inner_;
}

void routing_standard_use_type_backend::bind_inner(statement_backend& st)
{
    inner_.reset(st.make_use_type_backend());
    if (by_name_)
    {
        inner_->bind_by_name(name_, data_, type_, read_only_);
    }
    else
    {
        int position = position_;
        inner_->bind_by_pos(position, data_, type_, read_only_);
    }
}

void routing_standard_use_type_backend::bind_by_pos(int& position, void* data, exchange_type type, bool read_only)
{
    position_ = position;
    by_name_ = false;
    data_ = data;
    type_ = type;
    read_only_ = read_only;
    defined_ = true;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
    {
        inner_.reset(st->make_use_type_backend());
        inner_->bind_by_pos(position, data, type, read_only);
    }
    else
    {
        ++position;
    }
}

void routing_standard_use_type_backend::bind_by_name(std::string const& name, void* data, exchange_type type,
                                                     bool read_only)
{
    name_ = name;
    by_name_ = true;
    data_ = data;
    type_ = type;
    read_only_ = read_only;
    defined_ = true;
    if (type == x_blob || type == x_rowid)
        statement_->require_primary();
    drop_inner();
    if (!attached_)
    {
        statement_->attach(this);
        attached_ = true;
    }
    if (statement_backend* st = statement_->inner())
        bind_inner(*st);
}

void routing_standard_use_type_backend::pre_exec(int num)
{
    inner().pre_exec(num);
    pending_pre_exec_ = num;
}

void routing_standard_use_type_backend::pre_use(soci::indicator const* ind)
{
    inner().pre_use(ind);
    last_ind_ = ind;
    pending_pre_use_ = true;
}

void routing_standard_use_type_backend::post_use(bool got_data, soci::indicator* ind)
{
    inner().post_use(got_data, ind);
}

void routing_standard_use_type_backend::clean_up()
{
    drop_inner();
    defined_ = false;
    // SOCI deletes the element right after (or redefines it, after undefine_and_bind()).
    if (attached_ && statement_ != nullptr)
        statement_->detach(this);
    attached_ = false;
}

void routing_standard_use_type_backend::drop_inner() noexcept
{
    discard_inner_element(inner_);
}

void routing_standard_use_type_backend::replay_definition(statement_backend& inner)
{
    if (defined_)
        bind_inner(inner);
}

void routing_standard_use_type_backend::replay_execution()
{
    if (!inner_)
        return;
    if (pending_pre_use_)
        inner_->pre_use(last_ind_);
    if (pending_pre_exec_ >= 0)
        inner_->pre_exec(pending_pre_exec_);
}

void routing_standard_use_type_backend::execution_done() noexcept
{
    pending_pre_exec_ = -1;
    pending_pre_use_ = false;
}

void routing_standard_use_type_backend::orphan() noexcept
{
    drop_inner();
    statement_ = nullptr;
    attached_ = false;
}

} // namespace soci_routing
