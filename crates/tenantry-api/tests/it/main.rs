//! The HTTP API's integration tests: the real router, driven with
//! `tower::ServiceExt::oneshot`, over a real store on each backend (a
//! SQLite file in a temporary directory, a throwaway PostgreSQL database
//! reached through the runtime role).

mod approvals;
mod audit;
mod authentication;
mod authorization;
mod bad_input;
mod conflicts;
mod consistency;
mod cross_tenant;
mod decisions;
mod invitations;
mod limits;
mod oidc;
mod operations;
mod permissions;
mod resources;
mod runs;
mod service_accounts;
mod snapshots;
mod status_rules;
mod support;
mod webhooks;

/// Turns a list of `async fn name(app: TestApp)` scenarios of the calling
/// module into one `#[tokio::test]` per scenario and backend, in submodules
/// `sqlite` and `postgres`. On PostgreSQL a scenario returns early when the
/// server is unavailable and not required (the test-support module prints
/// the skip line).
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let backend = tenantry_test_support::sqlite::backend().await;
                    super::$scenario($crate::support::TestApp::new(backend).await).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let Some(backend) = tenantry_test_support::postgres::backend().await else {
                        return;
                    };
                    super::$scenario($crate::support::TestApp::new(backend).await).await;
                }
            )+
        }
    };
}
