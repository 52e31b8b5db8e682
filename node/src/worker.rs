//! A long-lived helper thread that does jobs in the order they were submitted, one at a time or
//! in batches of what is queued: the verifier's (`crate::verify`) and the network loop's store
//! and reader (`crate::network`), so that neither signature checks nor the reducer, the entry
//! file, sled and their fsyncs run on a tokio worker.

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
