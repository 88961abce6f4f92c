//! gsm-server's integration tests: one binary, a module per concern.

/// Runs each behaviour against a server on SQLite and on PostgreSQL: declared before the modules
/// so each of them can use it.
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let server = crate::harness::TestServer::start().await;
                    super::$behaviour(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    let server = crate::harness::TestServer::start_postgres().await;
                    super::$behaviour(&server).await;
                    server.finish().await;
                }
            )*
        }
    };
}

mod alerts;
mod alerts_api;
mod api;
mod auth;
mod discord_bot;
mod e2e;
mod e2e_alerts;
mod e2e_games;
mod games;
mod gateway;
mod harness;
mod isolation;
mod metrics;
mod openapi;
mod roles;
mod schedules;
mod store;
mod stream;
mod web;
