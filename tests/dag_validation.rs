//! `DagBuilder::build` reports every violation, each naming its nodes.

use ticklane::{Bar, BuildError, DagBuilder, Kind, Stamped, Trade, Violation};

/// A stateless pass-through transform.
type Pass = fn(&[Stamped<Trade>], &mut Vec<Stamped<Trade>>);

fn pass() -> impl Fn(ticklane::ShardContext) -> Pass + Send + Sync {
    |_| |i: &[Stamped<Trade>], o: &mut Vec<Stamped<Trade>>| o.extend_from_slice(i)
}

fn sink(g: &mut DagBuilder, name: &str) {
    g.sink_shard::<Trade, _, _>(name, |_| |_: &[Stamped<Trade>]| {});
}

fn errors(g: &DagBuilder) -> Vec<Violation> {
    match g.build() {
        Ok(_) => panic!("graph should be invalid"),
        Err(BuildError { violations }) => violations,
    }
}

#[test]
fn a_valid_graph_runs_in_topological_order() {
    let mut g = DagBuilder::new();
    sink(&mut g, "out");
    g.transform::<Trade, Trade, _, _>("b", pass());
    g.transform::<Trade, Trade, _, _>("a", pass());
    g.source("feed", Kind::Trade);
    g.connect("feed", "a").connect("a", "b").connect("b", "out");
    let dag = g.build().expect("valid");
    assert_eq!(dag.node_names(), vec!["feed", "a", "b", "out"]);
    assert_eq!(dag.sources(), vec!["feed"]);
}

#[test]
fn cycle_names_its_nodes() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.operator("merge", &[Kind::Trade, Kind::Trade], &[Kind::Trade], |_| panic!("never built"));
    g.transform::<Trade, Trade, _, _>("enrich", pass());
    g.transform::<Trade, Trade, _, _>("split", pass());
    sink(&mut g, "out");
    g.connect("feed", "merge")
        .connect("merge", "enrich")
        .connect("enrich", "split")
        .connect_ports("split", 0, "merge", 1)
        .connect("split", "out");
    let v = errors(&g);
    assert_eq!(v, vec![Violation::Cycle { nodes: vec!["merge".into(), "enrich".into(), "split".into()] }]);
    let msg = g.build().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("cycle through 'merge' -> 'enrich' -> 'split'"), "{msg}");
}

#[test]
fn self_loop_is_a_cycle() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.operator("loop", &[Kind::Trade, Kind::Trade], &[Kind::Trade], |_| panic!("never built"));
    sink(&mut g, "out");
    g.connect("feed", "loop").connect_ports("loop", 0, "loop", 1).connect("loop", "out");
    assert_eq!(errors(&g), vec![Violation::Cycle { nodes: vec!["loop".into()] }]);
}

#[test]
fn unconnected_operator_input_and_output() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.transform::<Trade, Trade, _, _>("dangling_out", pass());
    g.transform::<Trade, Trade, _, _>("dangling_in", pass());
    sink(&mut g, "out");
    g.connect("feed", "dangling_out").connect("dangling_in", "out");
    assert_eq!(
        errors(&g),
        vec![
            Violation::UnconnectedOutput { node: "dangling_out".into(), port: 0 },
            Violation::UnconnectedInput { node: "dangling_in".into(), port: 0 },
        ]
    );
}

#[test]
fn duplicate_name() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    sink(&mut g, "out");
    sink(&mut g, "out");
    g.connect("feed", "out");
    assert_eq!(errors(&g), vec![Violation::DuplicateName { name: "out".into(), count: 2 }]);
}

#[test]
fn edge_with_differing_kinds() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.sink_egress("bars", Kind::Bar);
    g.connect("feed", "bars");
    assert_eq!(
        errors(&g),
        vec![Violation::KindMismatch {
            from: "feed".into(),
            from_port: 0,
            from_kind: Kind::Trade,
            to: "bars".into(),
            to_port: 0,
            to_kind: Kind::Bar,
        }]
    );
}

#[test]
fn sink_with_no_input() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    sink(&mut g, "used");
    g.sink_egress("orphan", Kind::Trade);
    g.connect("feed", "used");
    assert_eq!(errors(&g), vec![Violation::SinkWithoutInput { node: "orphan".into() }]);
}

#[test]
fn source_with_no_output() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.source("quotes", Kind::Quote);
    sink(&mut g, "out");
    g.connect("feed", "out");
    assert_eq!(errors(&g), vec![Violation::SourceWithoutOutput { node: "quotes".into() }]);
}

#[test]
fn dangling_edges_name_the_missing_node_and_port() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    sink(&mut g, "out");
    g.connect("feed", "out").connect("feed", "nowhere").connect_ports("feed", 3, "out", 0);
    assert_eq!(
        errors(&g),
        vec![
            Violation::UnknownNode { from: "feed".into(), to: "nowhere".into(), missing: "nowhere".into() },
            Violation::NoSuchPort {
                from: "feed".into(),
                to: "out".into(),
                node: "feed".into(),
                direction: "output",
                port: 3,
                available: 1,
            },
        ]
    );
}

#[test]
fn no_source_at_all() {
    let mut g = DagBuilder::new();
    g.sink_egress("out", Kind::Bar);
    let v = errors(&g);
    assert!(v.contains(&Violation::NoSource), "{v:?}");
    assert!(v.contains(&Violation::SinkWithoutInput { node: "out".into() }), "{v:?}");
}

#[test]
fn every_violation_is_reported_at_once() {
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade);
    g.source("idle", Kind::Trade);
    g.transform::<Trade, Bar, _, _>("bars", |_| |_: &[Stamped<Trade>], _: &mut Vec<Stamped<Bar>>| {});
    sink(&mut g, "out");
    sink(&mut g, "out");
    g.connect("feed", "bars").connect("bars", "out");
    let v = errors(&g);
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(v.contains(&Violation::DuplicateName { name: "out".into(), count: 2 }));
    assert!(v.contains(&Violation::SourceWithoutOutput { node: "idle".into() }));
    assert!(v.iter().any(|x| matches!(x, Violation::KindMismatch { from, to, .. } if from == "bars" && to == "out")));
}
