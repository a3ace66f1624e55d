//! Integration tests against real RabbitMQ, Redis and moto (S3, STS).
//!
//! One test binary (`it`) with a module per area. The README's test command starts the
//! services where they are not running and builds the `trawl` binary these tests drive as
//! separate processes. Every test uses its own task queue, buckets and job IDs, so tests run in
//! parallel without seeing each other.

mod api;
mod bad_input;
mod config;
mod dead_letter;
mod demo;
mod encryption;
mod end_to_end;
mod lifecycle;
mod redelivery;
mod schedule;
mod store;
mod strict_s3;
mod support;
