//! Wiring: every ring, channel and shared cell of a run, built in one place from the graph
//! and the configuration, then handed out as one [`ShardWiring`] per shard thread and one
//! [`IngressWiring`] per source.
//!
//! Per (source, shard) pair: an SPSC ring of [`ToShard`] messages and a crossbeam channel
//! that returns emptied batch buffers. Per egress node: one bounded channel all shards send
//! [`EgressMsg`]s on.

use super::config::{Config, WaitStrategy};
use super::control::Control;
use super::doorbell::Doorbell;
use super::gate::Gate;
use super::ingress::IngressWiring;
use super::padded::Padded;
use super::ring;
use super::shard::{ShardWiring, SourceIn};
use super::stats::{ShardCell, SourceCell, StatsShared};
use super::wire::{Budget, EgressEnd, EgressLink, ToShard};
use crate::dag::{Dag, Role};
use crate::instrument::Interner;
use crate::operator::ShardContext;
use crate::record::Kind;
use crossbeam_channel::bounded;
use std::sync::Arc;

/// One source's ingress, waiting to be taken by [`crate::Engine::ingress`].
pub(crate) struct IngressSlot {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    pub(crate) wiring: IngressWiring,
}

/// Everything a run is wired from.
pub(crate) struct Wiring {
    pub(crate) shards: Vec<ShardWiring>,
    pub(crate) ingresses: Vec<Option<IngressSlot>>,
    pub(crate) gates: Vec<Arc<Gate>>,
    /// `(egress node, reading end)`; an end is taken by [`crate::Engine::egress`].
    pub(crate) egress: Vec<(usize, Option<EgressEnd>)>,
    pub(crate) doorbells: Vec<Arc<Doorbell>>,
    pub(crate) control: Arc<Control>,
    pub(crate) stats: Arc<StatsShared>,
    pub(crate) interner: Interner,
}

impl Wiring {
    pub(crate) fn new(dag: &Dag, config: &Config) -> Wiring {
        let shards = config.shards();
        let sources: Vec<usize> = (0..dag.nodes.len()).filter(|&i| matches!(dag.nodes[i].role, Role::Source)).collect();
        let stats = Arc::new(StatsShared {
            node_names: dag.nodes.iter().map(|n| n.name.clone()).collect(),
            source_names: sources.iter().map(|&i| dag.nodes[i].name.clone()).collect(),
            shards: (0..shards).map(|_| Padded(ShardCell::new(dag.nodes.len(), sources.len()))).collect(),
            sources: sources.iter().map(|_| Padded(SourceCell::new(shards))).collect(),
            ring_capacity: vec![(config.ring_capacity() * sources.len()) as u64; shards],
        });
        let mut w = Wiring {
            shards: Vec::with_capacity(shards),
            ingresses: Vec::with_capacity(sources.len()),
            gates: Vec::with_capacity(sources.len()),
            egress: Vec::new(),
            doorbells: (0..shards).map(|_| Arc::new(Doorbell::default())).collect(),
            control: Arc::new(Control::default()),
            stats,
            interner: Interner::new(),
        };
        let egress_links = w.egress_channels(dag, config, shards);
        for (i, egress) in egress_links.into_iter().enumerate() {
            w.shards.push(ShardWiring {
                ctx: ShardContext { shard: i, shards, interner: w.interner.clone() },
                inputs: Vec::with_capacity(sources.len()),
                egress,
                doorbell: w.doorbells[i].clone(),
                control: w.control.clone(),
                stats: w.stats.clone(),
                wait: config.wait(),
                idle_timeout: config.idle_timeout(),
            });
        }
        for (index, &node) in sources.iter().enumerate() {
            w.wire_source(dag, config, index, node);
        }
        w
    }

    /// One bounded channel per egress node, and per shard a credit channel bounding the
    /// records it has waiting there; per shard, its links.
    fn egress_channels(&mut self, dag: &Dag, config: &Config, shards: usize) -> Vec<Vec<EgressLink>> {
        let budget = Budget::new(config.egress_records());
        let mut links: Vec<Vec<EgressLink>> = (0..shards).map(|_| Vec::new()).collect();
        for (node, n) in dag.nodes.iter().enumerate() {
            if matches!(n.role, Role::Egress) {
                let (tx, rx) = bounded(config.egress_capacity());
                let mut credits = Vec::with_capacity(shards);
                for shard in &mut links {
                    let (give, take) = bounded(budget.tokens());
                    credits.push(take);
                    shard.push(EgressLink { node, tx: tx.clone(), credits: give, budget });
                }
                self.egress.push((node, Some(EgressEnd { rx, credits, budget })));
            }
        }
        links
    }

    /// Source `index` (graph node `node`): a ring and a buffer-return channel to every shard.
    fn wire_source(&mut self, dag: &Dag, config: &Config, index: usize, node: usize) {
        let cap = config.ring_capacity();
        let (mut txs, mut recycle) = (Vec::new(), Vec::new());
        for shard in &mut self.shards {
            let (tx, rx) = ring::ring::<ToShard>(cap);
            let (rtx, rrx) = bounded(cap + 2);
            txs.push(tx);
            recycle.push(rrx);
            shard.inputs.push(SourceIn::new(node, rx, rtx));
        }
        let gate = Arc::new(Gate::default());
        self.gates.push(gate.clone());
        let parks = matches!(config.wait(), WaitStrategy::Park { .. });
        let wiring = IngressWiring {
            source: index,
            txs,
            recycle,
            gate,
            doorbells: parks.then(|| self.doorbells.clone()),
            stats: self.stats.clone(),
            interner: self.interner.clone(),
            batch_size: config.batch_size(),
            flush_every: config.flush_every(),
            max_delay: config.max_delay_ns(),
        };
        let n = &dag.nodes[node];
        self.ingresses.push(Some(IngressSlot { name: n.name.clone(), kind: n.outputs[0], wiring }));
    }
}
