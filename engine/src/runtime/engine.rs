//! The engine's lifecycle: start the shard threads, hand out each source's [`Ingress`] and
//! each egress sink's [`Egress`], then end the run by [`Engine::join`], [`Engine::stop`] or
//! [`Engine::abort`].

use super::config::Config;
use super::control::Control;
use super::doorbell::Doorbell;
use super::egress::Egress;
use super::error::{EngineError, RunFailed, RunReport};
use super::gate::Gate;
use super::ingress::Ingress;
use super::publisher::Publisher;
use super::shard;
use super::stats::{Stats, StatsShared};
use super::wire::EgressEnd;
use super::wiring::{IngressSlot, Wiring};
use crate::dag::{Dag, Role};
use crate::instrument::Interner;
use crate::record::Record;
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running engine. Start it with [`Engine::start`], take each source's [`Ingress`] and each
/// egress sink's [`Egress`], then finish with [`Engine::join`] (after dropping the ingresses),
/// [`Engine::stop`] (graceful) or [`Engine::abort`].
pub struct Engine {
    config: Config,
    dag: Dag,
    interner: Interner,
    handles: Vec<JoinHandle<()>>,
    /// Wakes a parked shard (to re-check abort and stop, or for new messages).
    doorbells: Vec<Arc<Doorbell>>,
    control: Arc<Control>,
    ingresses: Vec<Option<IngressSlot>>,
    gates: Vec<Arc<Gate>>,
    egress: Vec<(usize, Option<EgressEnd>)>,
    stats: Arc<StatsShared>,
    publisher: Option<Publisher>,
}

impl Engine {
    /// Spawns the shard threads (placed per [`Config::placement`]) and the metrics publisher
    /// if configured, and returns the running engine.
    pub fn start(dag: Dag, config: Config) -> Result<Engine, EngineError> {
        let Wiring { shards, ingresses, gates, egress, doorbells, control, stats, interner } =
            Wiring::new(&dag, &config);
        let cores = config.placement().cores(config.shards());
        let mut engine = Engine {
            config,
            dag,
            interner,
            handles: Vec::with_capacity(shards.len()),
            doorbells,
            control,
            ingresses,
            gates,
            egress,
            stats,
            publisher: None,
        };
        // On an error, dropping `engine` aborts and joins the shards already started.
        for (w, core) in shards.into_iter().zip(cores) {
            engine.handles.push(shard::spawn(w, &engine.dag, core, engine.config.batch_threads())?);
        }
        engine.publisher = Publisher::for_config(&engine.config, &engine.stats)?;
        Ok(engine)
    }

    /// The engine's instrument table (shared with every ingress and egress).
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// The running graph.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the ingress of source `name` (once). Its record type must match the source kind.
    pub fn ingress<T: Record>(&mut self, name: &str) -> Result<Ingress<T>, EngineError> {
        let Some(slot) = self.ingresses.iter_mut().find(|p| p.as_ref().is_some_and(|p| p.name == name)) else {
            return Err(if self.dag.sources().contains(&name) {
                EngineError::AlreadyTaken(name.to_string())
            } else {
                EngineError::UnknownSource(name.to_string())
            });
        };
        let kind = slot.as_ref().map_or(T::KIND, |p| p.kind);
        if kind != T::KIND {
            return Err(EngineError::WrongKind { node: name.to_string(), actual: kind, requested: T::KIND });
        }
        let Some(p) = slot.take() else { return Err(EngineError::AlreadyTaken(name.to_string())) };
        Ok(Ingress::new(p.wiring))
    }

    /// Takes the reader of egress sink `name` (once).
    pub fn egress<T: Record>(&mut self, name: &str) -> Result<Egress<T>, EngineError> {
        let Some(k) = self.dag.index_of(name).filter(|&k| matches!(self.dag.nodes[k].role, Role::Egress)) else {
            return Err(EngineError::UnknownEgress(name.to_string()));
        };
        let actual = self.dag.nodes[k].inputs[0];
        if actual != T::KIND {
            return Err(EngineError::WrongKind { node: name.to_string(), actual, requested: T::KIND });
        }
        let slot = self.egress.iter_mut().find(|(i, _)| *i == k).and_then(|(_, rx)| rx.take());
        let end = slot.ok_or_else(|| EngineError::AlreadyTaken(name.to_string()))?;
        Ok(Egress::new(end, self.config.shards(), self.interner.clone()))
    }

    /// A snapshot of every counter (cheap: relaxed loads).
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Waits for the run to end by itself: every source ended (its ingress finished or
    /// dropped; sources whose ingress was never taken end now), windows fired, sinks flushed.
    /// An egress sink whose reader was never taken is closed (what reaches it is dropped, as
    /// nobody can read it any more), so that its shards do not wait for it.
    /// Returns the first node panic, if any, with the run's counters.
    pub fn join(mut self) -> Result<RunReport, RunFailed> {
        self.ingresses.iter_mut().for_each(|s| drop(s.take()));
        self.wake_all(); // parked shards see the rings of untaken sources closed
        self.finish()
    }

    /// Graceful stop: producers' next sends are refused ([`crate::PushError::Stopped`],
    /// counted), batches already sent are drained, every window fires (+∞ watermark), sinks
    /// flush, threads join.
    pub fn stop(mut self) -> Result<RunReport, RunFailed> {
        self.gates.iter().for_each(|g| g.close());
        for g in &self.gates {
            g.wait_idle(|| self.control.aborted());
        }
        self.control.stop();
        self.wake_all();
        self.ingresses.iter_mut().for_each(|s| drop(s.take()));
        self.finish()
    }

    /// Stops at once: shards exit without firing windows; producers get
    /// [`crate::PushError::ShardGone`]. Still reports a node panic that happened first.
    pub fn abort(mut self) -> Result<RunReport, RunFailed> {
        self.control.abort();
        self.wake_all();
        self.ingresses.iter_mut().for_each(|s| drop(s.take()));
        self.finish()
    }

    fn wake_all(&self) {
        self.doorbells.iter().for_each(|d| d.wake());
    }

    fn finish(&mut self) -> Result<RunReport, RunFailed> {
        // An egress never taken is read by nobody from here on: closing it lets a shard that
        // waits for it to be read go on (what it sends there is dropped) instead of hanging.
        self.egress.iter_mut().for_each(|(_, end)| drop(end.take()));
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        if let Some(p) = self.publisher.take() {
            p.finish();
        }
        let report = RunReport { stats: self.stats.snapshot(), aborted: self.control.was_aborted() };
        match self.control.take_failure() {
            Some(error) => Err(RunFailed { error, report: Box::new(report) }),
            None => Ok(report),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            self.control.abort();
            self.wake_all();
            let _ = self.finish();
        }
    }
}
