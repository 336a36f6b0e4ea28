//! The scheduling class of the engine's threads when they outnumber the cores
//! ([`crate::ConfigBuilder::batch_threads`]).
//!
//! A hand-over between two of a run's threads (a reader to a shard, a shard to a bar writer)
//! wakes the receiver. Under Linux's default class, a woken thread with less CPU time used than
//! the one running on the only core left preempts it at once: on two cores shared with a feed
//! and a message server that is two context switches per hand-over, and the receiver runs
//! before the sender has finished its batch, so it gets less to do per wake-up. A batch thread
//! (`SCHED_BATCH`) does not preempt when woken: it runs on an idle core at once, as before, and
//! otherwise waits for the running thread to block or to use up its slice. Nothing else about
//! it changes: its share of the CPU and its nice value are those of any other thread.

/// Makes the calling thread a batch thread (Linux `SCHED_BATCH`; elsewhere nothing). Threads it
/// starts from then on inherit the class. A refusal (a seccomp profile, say) is logged once per
/// process, never an error: the thread runs on as it was.
pub fn run_as_batch_thread() {
    // Not under miri, which does not model scheduling classes.
    #[cfg(all(target_os = "linux", not(miri)))]
    if let Err(e) = set_batch() {
        static REFUSED: std::sync::Once = std::sync::Once::new();
        REFUSED.call_once(|| log::info!("cannot make threads batch threads (SCHED_BATCH): {e}; they run as they were"));
    }
}

#[cfg(all(target_os = "linux", not(miri)))]
#[allow(unsafe_code)]
fn set_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads `param`, a valid value that outlives the call, and
    // writes nothing; pid 0 is the calling thread (Linux applies the class per thread).
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The calling thread's scheduling class (`SCHED_*`), for tests.
#[cfg(all(test, target_os = "linux", not(miri)))]
#[allow(unsafe_code)]
pub(crate) fn class() -> i32 {
    // SAFETY: no pointer is passed; pid 0 is the calling thread.
    unsafe { libc::sched_getscheduler(0) }
}

#[cfg(all(test, target_os = "linux", not(miri)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_made_batch_is_batch_and_its_children_too_and_others_are_not() {
        let outer = class();
        let (before, own, child) = std::thread::spawn(|| {
            let before = class();
            run_as_batch_thread();
            let child = std::thread::spawn(class).join().expect("child");
            (before, class(), child)
        })
        .join()
        .expect("thread");
        assert_eq!(before, outer, "a new thread has its parent's class");
        assert_eq!((own, child), (libc::SCHED_BATCH, libc::SCHED_BATCH));
        assert_eq!(class(), outer, "the class is the calling thread's alone");
    }

    #[test]
    fn shards_are_batch_threads_when_the_config_says_so() {
        use crate::{Config, DagBuilder, Engine, Kind, Stamped, Trade};
        use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
        use std::sync::Arc;
        // Unless made batch, a shard has the class of the thread that started the engine.
        for (batch, want) in [(false, class()), (true, libc::SCHED_BATCH)] {
            let seen = Arc::new(AtomicI32::new(-1));
            let on_shard = seen.clone();
            let mut g = DagBuilder::new();
            g.source("feed", Kind::Trade)
                .sink_shard::<Trade, _, _>("class", move |_| {
                    on_shard.store(class(), SeqCst);
                    |_: &[Stamped<Trade>]| {}
                })
                .connect("feed", "class");
            let config = Config::builder().shards(1).batch_threads(batch).build().expect("config");
            let mut e = Engine::start(g.build().expect("graph"), config).expect("start");
            drop(e.ingress::<Trade>("feed").expect("ingress"));
            e.join().expect("clean run");
            assert_eq!(seen.load(SeqCst), want, "batch_threads({batch})");
        }
    }
}
