//! The integrator kit (docs/integrators, examples/verify, `verify --explain`, `send-test`):
//! what a brand's developer needs to check our first callback on their own.

mod cli;
mod docs;
mod verifiers;
