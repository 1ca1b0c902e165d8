//! The threads that answer heavy authorization questions, at a lower OS
//! scheduling priority than the async workers.
//!
//! Bulk checks, lookups, expand and explanations can take a core for tens
//! or hundreds of milliseconds. Answered on the async workers they would
//! stall every tenant's cheap requests; answered on tokio's blocking pool
//! they still compete with the async workers at the same priority, so on a
//! machine with few cores a cheap request sometimes waits a whole scheduler
//! time slice behind someone else's bulk check. These threads therefore
//! lower their own priority once, when they start (a `nice` value, 10 by
//! default): the kernel then runs them only on time the async workers leave
//! idle, while they still get the CPU whenever the workers do not want it.
//!
//! The threads are this pool's own because a thread cannot raise its
//! priority back without privilege: a renice'd thread handed back to
//! tokio's blocking pool would slow whatever tokio runs on it next.
//!
//! The pool has as many threads as evaluations may run at once (the
//! authorizer's semaphore hands out that many permits, so a question never
//! waits for a thread, only for a permit, asynchronously). A question that
//! panics is an error for its caller, and its thread carries on.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

/// A question for the pool, with the way back to its asker.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The evaluation threads; dropping the pool lets them finish and exit.
#[derive(Debug)]
pub(crate) struct EvaluationPool {
    jobs: Sender<Job>,
}

impl EvaluationPool {
    /// Starts `threads` threads, each of which first sets its own `nice`
    /// value to `niceness` (unless it already runs at that or lower).
    pub(crate) fn start(threads: usize, niceness: u8) -> Result<Self> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for number in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("tenantry-eval-{number}"))
                .spawn(move || {
                    lower_own_priority(niceness);
                    run(&receiver);
                })
                .map_err(|error| Error::internal(format!("starting an evaluation thread: {error}")))?;
        }
        Ok(Self { jobs: sender })
    }

    /// Answers `question` on one of the pool's threads. The caller bounds
    /// how many questions are in the pool at once (one per thread), so the
    /// question starts at once.
    pub(crate) async fn answer<T: Send + 'static>(
        &self,
        question: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (answer_sender, answer_receiver) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let answer = catch_unwind(AssertUnwindSafe(question));
            // The asker may have gone (its request timed out); nothing to do.
            let _ = answer_sender.send(answer);
        });
        self.jobs.send(job).map_err(|_| Error::internal("the evaluation threads have stopped"))?;
        match answer_receiver.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_panic)) => Err(Error::internal("an authorization evaluation panicked")),
            Err(_dropped) => Err(Error::internal("an evaluation thread stopped before answering")),
        }
    }
}

/// Answers jobs until the pool is dropped.
fn run(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held while waiting, so one idle thread waits on the
        // channel and the others on the lock: either way, the next job
        // wakes exactly one of them.
        let job = receiver.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_disconnected) => return,
        }
    }
}

/// Sets the calling thread's `nice` value to `niceness` if it runs at a
/// lower one (a higher priority); never raises its priority, which would
/// need privilege. On Linux `setpriority(PRIO_PROCESS, 0, ...)` applies to
/// the calling thread alone; elsewhere it would renice the whole process,
/// so the threads keep the process's priority there.
fn lower_own_priority(niceness: u8) {
    #[cfg(target_os = "linux")]
    {
        let wanted = i32::from(niceness);
        let current = rustix::process::getpriority_process(None).unwrap_or(0);
        if current >= wanted {
            return;
        }
        if let Err(error) = rustix::process::setpriority_process(None, wanted) {
            tracing::warn!(%error, niceness, "could not lower an evaluation thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}

/// The calling thread's `nice` value (Linux; 0 elsewhere), for tests.
#[cfg(test)]
pub(crate) fn own_niceness() -> i32 {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(None).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn questions_run_on_the_pool_threads_at_the_configured_priority() {
        let async_worker = std::thread::current().id();
        let async_niceness = own_niceness();
        let pool = EvaluationPool::start(2, 10).unwrap();
        for _ in 0..4 {
            let (thread, name, niceness) = pool
                .answer(|| {
                    let thread = std::thread::current();
                    (thread.id(), thread.name().map(str::to_owned), own_niceness())
                })
                .await
                .unwrap();
            assert_ne!(thread, async_worker);
            assert!(name.as_deref().is_some_and(|name| name.starts_with("tenantry-eval-")), "{name:?}");
            if cfg!(target_os = "linux") {
                assert_eq!(niceness, async_niceness.max(10), "the pool thread's nice value");
            }
        }
        // The askers' threads keep their priority.
        assert_eq!(own_niceness(), async_niceness);
    }

    #[tokio::test]
    async fn a_question_that_panics_is_an_error_and_the_pool_goes_on() {
        let pool = EvaluationPool::start(1, 0).unwrap();
        let panicked = pool.answer(|| -> u32 { panic!("a bug in a question") }).await;
        assert!(matches!(panicked, Err(Error::Internal(_))), "{panicked:?}");
        // The one thread survived the panic and answers the next question.
        assert_eq!(pool.answer(|| 6 * 7).await.unwrap(), 42);
    }
}
