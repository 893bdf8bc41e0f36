//! What only the local backend does: keep accepted work across a restart, keep secrets in
//! private files.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use autodb::adapters::local::{queue, service};
use autodb::app::ports::{Clock, SystemClock};
use autodb::executor::{run_job, Outcome};
use axum::http::StatusCode;

use crate::helpers::{settings, Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_requests_survive_a_restart() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE survived (id int);";
    let token = t.approve(&conn, sql).await;
    let (status, accepted) = t.execute(&token, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = accepted["data"]["request_id"].as_str().unwrap().to_string();

    // A second process on the same data directory, as after a crash: the first one's queue
    // (in memory) is gone, the request is in the store.
    let dir = t.data_dir().expect("local backend has a data dir");
    let mut restarted =
        service::open(&dir, settings(), Arc::new(SystemClock) as Arc<dyn Clock>).unwrap();
    assert_eq!(
        queue::requeue_unfinished(&restarted.app, &restarted.store)
            .await
            .unwrap(),
        1
    );
    let queued = restarted.jobs.try_recv().expect("re-queued job");
    assert_eq!(queued.as_str(), id);
    assert_eq!(
        run_job(&restarted.app, &queued).await.unwrap(),
        Outcome::Completed
    );
    assert_eq!(
        queue::requeue_unfinished(&restarted.app, &restarted.store)
            .await
            .unwrap(),
        0
    );
    assert_eq!(t.status(&id).await["status"], "completed");
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'survived'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_keys_are_private_files() {
    let t = TestApp::spawn(Backend::Local).await;
    t.connect().await;
    let dir = &t.data_dir().unwrap();
    for file in ["secrets.json", "signing-keys.json"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let dir_mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "the data dir is private");
    let secrets = std::fs::read_to_string(dir.join("secrets.json")).unwrap();
    assert!(
        secrets.contains(&t.db_url),
        "the connection string went to the secret file"
    );
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("autodb.sqlite3")
        {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&t.db_url),
                "{} holds no credentials",
                path.display()
            );
        }
    }
}
