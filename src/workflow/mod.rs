//! The job workflow: the client, job handles, waiting and polling, and the
//! catalogue calls.
//!
//! [`client::Client`] submits and rebuilds [`job::Job`] handles; a handle
//! holds its client and waits through [`waiting`] on a
//! [`polling`](crate::polling) schedule.

pub(crate) mod balance;
pub(crate) mod builder;
pub(crate) mod catalogue;
pub(crate) mod client;
pub(crate) mod job;
pub(crate) mod waiting;
