//! Test harness: real processes on free loopback ports — a private `redis-server` per test, and
//! polling helpers that wait on a condition with a deadline instead of sleeping.

pub mod api;
pub mod bench;
pub mod gateway;
pub mod http_load;
pub mod processes;
pub mod redis_server;
pub mod wait;
pub mod ws_client;

pub use redis_server::RedisServer;
pub use wait::wait_until;

/// A free TCP port on 127.0.0.1 (bound then released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
