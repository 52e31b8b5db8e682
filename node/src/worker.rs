//! A long-lived helper thread that does jobs in the order they were submitted, one at a time or
//! in batches of what is queued: the verifier's (`crate::verify`) and the network loop's store
//! and reader (`crate::network`), so that neither signature checks nor the reducer, the entry
//! file, sled and their fsyncs run on a tokio worker; and [`off_the_runtime`], for the blocking
//! work that cannot go to such a thread.

use std::sync::mpsc;
use std::thread::JoinHandle;

/// The thread and the way to it. Dropping the `Worker` lets the thread finish what was
/// submitted and stop; [`Worker::finish`] also waits for that.
pub struct Worker<J> {
    jobs: mpsc::Sender<J>,
    thread: JoinHandle<()>,
}

impl<J> std::fmt::Debug for Worker<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("thread", &self.thread.thread().name()).finish_non_exhaustive()
    }
}

impl<J: Send + 'static> Worker<J> {
    /// Starts the thread `name`; `work` does each job and returns `false` once its results have
    /// nowhere to go, which stops the thread.
    pub fn start(name: &str, mut work: impl FnMut(J) -> bool + Send + 'static) -> std::io::Result<Worker<J>> {
        let (jobs, queue) = mpsc::channel::<J>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            for job in queue {
                if !work(job) {
                    break;
                }
            }
        })?;
        Ok(Worker { jobs, thread })
    }

    /// Starts the thread `name` taking jobs in batches: `work` gets every job queued when it
    /// is ready for more (at least one, in the order submitted), so that work arriving together
    /// is done together (one lock, one wake-up); it returns `false` once its results have
    /// nowhere to go, which stops the thread.
    pub fn start_batched(
        name: &str,
        mut work: impl FnMut(Vec<J>) -> bool + Send + 'static,
    ) -> std::io::Result<Worker<J>> {
        let (jobs, queue) = mpsc::channel::<J>();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || {
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                batch.extend(queue.try_iter());
                if !work(batch) {
                    break;
                }
            }
        })?;
        Ok(Worker { jobs, thread })
    }

    /// Queues a job. Gives it back if the thread has stopped, to do it elsewhere.
    pub fn submit(&self, job: J) -> Result<(), J> {
        self.jobs.send(job).map_err(|mpsc::SendError(job)| job)
    }

    /// Lets the thread finish what was submitted, and waits for it (a blocking call).
    pub fn finish(self) {
        drop(self.jobs);
        if self.thread.join().is_err() {
            tracing::error!("a helper thread panicked");
        }
    }
}

/// Runs blocking `work` (a lock that may be held for seconds, a store's write and fsync) from
/// any thread without stopping the runtime's other tasks: on a worker of a multi-threaded
/// runtime (`kith run`'s) inside [`tokio::task::block_in_place`], which first hands the
/// worker's other tasks to another thread; elsewhere (a blocking thread, no runtime, or a
/// current-thread runtime, where `block_in_place` panics and there is no other thread to hand
/// anything to) it simply runs.
pub fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    let many_threads = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if many_threads { tokio::task::block_in_place(work) } else { work() }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use std::time::Duration;

    /// A task blocked in `off_the_runtime` on the only worker of a runtime leaves the worker to
    /// the other tasks: the one it waits for runs.
    #[test]
    fn blocking_work_leaves_the_runtime_to_its_other_tasks() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        let runtime = runtime.expect("a runtime for the test");
        let (sender, receiver) = std::sync::mpsc::channel::<()>();
        let got = runtime.block_on(async move {
            let waiter = tokio::spawn(async move {
                super::off_the_runtime(|| receiver.recv_timeout(Duration::from_secs(5)).is_ok())
            });
            // Let the waiter take the worker first.
            tokio::task::yield_now().await;
            let sender = tokio::spawn(async move { sender.send(()) });
            let got = waiter.await.expect("the waiting task ended");
            drop(sender);
            got
        });
        assert!(got, "the task the blocked one waited for never ran");
    }
}
