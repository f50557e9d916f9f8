//! The directory's rules (tickwire_net::directory::conformance) against a real Redis, through
//! three connections as three nodes would have.

use tickwire_cluster::RedisDirectory;
use tickwire_cluster::testing::RedisServer;
use tickwire_net::directory::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_directory_keeps_every_rule() {
    let Some(redis) = RedisServer::start("directory") else {
        return;
    };
    let url = redis.url();
    let run = std::sync::atomic::AtomicU32::new(0);
    conformance::run_all(async || {
        // A fresh key prefix per check: the store starts empty.
        let prefix = format!(
            "tw{}",
            run.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut views = Vec::new();
        for _ in 0..3 {
            views.push(
                RedisDirectory::connect(&url, &prefix)
                    .await
                    .expect("connects to Redis"),
            );
        }
        views
    })
    .await;
}
