#!/usr/bin/env bash
# The worst-case stack of an appliance image (stack-bound.py) with what the
# call graph cannot see for itself, each argued in docs/appliance.md "Stack":
#  - the engine's two mutual recursions run at most twice around: a fresh
#    election or exchange holds only our own vote or ack, and a formation
#    with a site and an arbitrator needs two;
#  - the panic handler runs at most twice on a path: a panic while it
#    reports one exits at once (lib.rs);
#  - the one indirect call of Node::handle_datagram picks a drop counter:
#    three `FnOnce::call_once` shims that return a field's address.
set -euo pipefail
here=$(dirname "$0")
T='<impl booth_core::engine::ticket::Ticket>'
exec python3 "$here/stack-bound.py" "$1" \
    "--cycle=booth_core::engine::election::$T::start_election=2" \
    "--cycle=booth_core::engine::election::$T::count_votes=2" \
    "--cycle=booth_core::engine::lease::$T::start_exchange=2" \
    "--cycle=booth_core::engine::lease::$T::check_acks=2" \
    "--cycle=__rustc::rust_begin_unwind=2" \
    "--indirect=booth_core::engine::Node<_,_,_>::handle_datagram=core::ops::function::FnOnce::call_once"
