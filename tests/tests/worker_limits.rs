//! A worker started under an open-file limit too low for its `WORKER_CAPACITY` takes only the
//! sessions that fit (and says so), instead of wedging when the descriptors run out.

use wa_tests::harness::gateway::Gateway;
use wa_tests::harness::processes::WorkerProcess;
use wa_worker::fd_limit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_file_limit_lowers_the_workers_capacity() {
    let gw = Gateway::start().await;
    let mut settings = gw.worker_settings(3000);
    settings.capacity = 1000;
    settings.open_file_limit = Some(300);
    let worker = WorkerProcess::start("limited", &settings).await;
    let health = worker.health().await.expect("worker health");
    let fits = fd_limit::sessions_within(300) as u64;
    assert_eq!(fits, 22);
    assert_eq!(health["capacity"].as_u64(), Some(fits), "{health}");
    assert!(
        worker
            .process
            .output()
            .contains("open-file limit is too low"),
        "the worker did not say why its capacity is lower"
    );
}
