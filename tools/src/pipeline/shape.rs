//! The graph of a pipeline file checked (every input names a node, flows match, no cycles,
//! nothing left unconnected) and lowered to the `replay`/`run` flags that build the same
//! graph. The run planner builds source → [dedupe] → [throttle] → bars → [resample …] and
//! source → [throttle | bbo] → quote bars; a graph of another shape is reported, not guessed.

use super::doc::{At, Problems};
use super::nodes::{Arg, Flow, Node, Role};
use std::collections::{BTreeMap, HashMap};

/// The graph, its nodes by name, and the file it was read from. Every walk over it visits a
/// node at most once: the file is untrusted, and its graph may be of any size or shape.
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    pub(crate) file: String,
    /// Each name's first node.
    index: HashMap<String, usize>,
}

impl Graph {
    pub(crate) fn new(nodes: Vec<Node>, file: &str) -> Graph {
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            index.entry(n.name.clone()).or_insert(i);
        }
        Graph { nodes, file: file.to_string(), index }
    }

    /// The place in `nodes` of the first node named `name`.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    fn get(&self, name: &str) -> Option<&Node> {
        self.position(name).map(|i| &self.nodes[i])
    }

    /// Whether nodes `through` lets pass lead from `start` to one `found` picks, following
    /// inputs (`upstream`) or consumers; each node is looked at once.
    fn reaches(
        &self,
        start: &Node,
        upstream: bool,
        found: impl Fn(&Node) -> bool,
        through: impl Fn(&Node) -> bool,
    ) -> bool {
        let mut seen = vec![false; self.nodes.len()];
        let mut todo = vec![start];
        while let Some(n) = todo.pop() {
            let next: Vec<&Node> = match upstream {
                true => n.inputs.iter().filter_map(|e| self.get(&e.from)).collect(),
                false => self.consumers(&n.name).collect(),
            };
            for m in next {
                let Some(i) = self.position(&m.name) else { continue };
                if found(m) {
                    return true;
                }
                if !seen[i] && through(m) {
                    seen[i] = true;
                    todo.push(m);
                }
            }
        }
        false
    }

    /// Every node whose inputs include `name`.
    fn consumers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.inputs.iter().any(|e| e.from == name))
    }

    /// What flows out of `from` at `port` into a node taking `takes`.
    fn flow(&self, from: &Node, port: Option<&str>, takes: &[Flow]) -> Result<Flow, String> {
        let gives: Vec<Flow> = match (from.role, port) {
            (Role::Source { .. }, None) => match from.arg("--kind").and_then(|a| a.value.as_deref()) {
                Some("trades") => vec![Flow::Trades],
                Some("quotes") => vec![Flow::Quotes],
                _ => vec![Flow::Trades, Flow::Quotes],
            },
            (Role::Op("time_bars"), Some("late")) => vec![Flow::Trades],
            (Role::Op("quote_bars"), Some("late")) => vec![Flow::Quotes],
            (Role::Op(_), None) => {
                let op = from.op().expect("operators have a type");
                match op.gives {
                    Some(f) => vec![f],
                    None => op.takes.to_vec(),
                }
            }
            (Role::Sink(_), _) => return Err(format!("`{}` is a sink: nothing flows out of it", from.name)),
            (_, Some(p)) => {
                return Err(format!("`{}` has no output port {p:?} (time_bars and quote_bars have `late`)", from.name))
            }
        };
        gives.iter().copied().find(|g| takes.contains(g)).ok_or_else(|| {
            let want: Vec<&str> = takes.iter().map(|f| f.name()).collect();
            let have: Vec<&str> = gives.iter().map(|f| f.name()).collect();
            format!("type mismatch: this takes {}, but `{}` gives {}", want.join(" or "), from.name, have.join(" or "))
        })
    }
}

/// What a node takes.
fn takes(n: &Node) -> &'static [Flow] {
    match n.role {
        Role::Source { .. } => &[],
        Role::Op(_) => n.op().map_or(&[], |o| o.takes),
        Role::Sink(_) => &[Flow::Bars, Flow::QuoteBars, Flow::Trades, Flow::Quotes],
    }
}

/// Checks every edge (known node, matching flow), cycles and unconnected outputs; returns the
/// flow on each edge, by (consumer, producer).
pub(crate) fn check(g: &Graph, problems: &mut Problems) -> HashMap<(String, String), Flow> {
    let mut flows = HashMap::new();
    for n in &g.nodes {
        for e in &n.inputs {
            match g.get(&e.from) {
                None => problems.push(&e.at, format!("no source or operator named `{}`", e.from)),
                Some(from) => match g.flow(from, e.port.as_deref(), takes(n)) {
                    Ok(f) => {
                        flows.insert((n.name.clone(), e.from.clone()), f);
                    }
                    Err(msg) => problems.push(&e.at, msg),
                },
            }
        }
    }
    super::cycles::report(g, problems);
    for n in g.nodes.iter().filter(|n| !matches!(n.role, Role::Sink(_))) {
        if g.consumers(&n.name).next().is_none() {
            problems.push(&n.at, "its output goes nowhere: connect it to an operator or a sink (input = …)");
        }
    }
    flows
}

/// The flags of the graph (in a stable order) and its inputs; shapes the planner does not
/// build are problems.
pub(crate) fn lower(g: &Graph, run: &[Arg], problems: &mut Problems) -> (Vec<Arg>, Vec<Arg>, bool) {
    let sources: Vec<&Node> = g.nodes.iter().filter(|n| matches!(n.role, Role::Source { .. })).collect();
    let Some(src) = sources.first() else {
        let at = g.nodes.first().map(|n| n.at.clone());
        problems.push(&at.unwrap_or_else(|| file_at(g)), "no [sources.NAME]: a pipeline reads one source");
        return (Vec::new(), Vec::new(), false);
    };
    let (inputs, live) = sources_of(g, &sources, problems);
    let mut flags: BTreeMap<&'static str, Arg> = BTreeMap::new();
    let mut uses = (false, false);
    let mut outs: Vec<(&Node, Vec<Arg>)> = Vec::new();
    for n in &g.nodes {
        shape(g, n, &mut uses, problems);
        let sinks;
        let args = match n.role {
            Role::Sink(_) => {
                sinks = sink_args(g, n, problems);
                &sinks
            }
            _ => &n.args,
        };
        for a in args.iter().filter(|a| !matches!(n.role, Role::Source { .. }) || a.flag != "--kind") {
            if matches!(n.role, Role::Sink(_)) && matches!(a.flag, "--out" | "--format") {
                match outs.last_mut() {
                    Some((m, each)) if m.name == n.name => each.push(a.clone()),
                    _ => outs.push((n, vec![a.clone()])),
                }
            } else if a.flag != "--bars" {
                set(&mut flags, a, problems); // the widths make one list: bar_widths
            }
        }
        if n.role == Role::Op("dedupe") {
            set(&mut flags, &Arg { flag: "--dedupe", value: None, at: n.at.clone(), shown: None }, problems);
        }
    }
    kind(src, uses, &mut flags, problems);
    late_side(g, &mut flags, problems);
    one_dedupe_for_all(g, problems);
    run.iter().for_each(|a| set(&mut flags, a, problems));
    let mut args: Vec<Arg> = flags.into_values().collect();
    args.extend(out_flags(outs));
    if let Some(first) = bar_widths(g, problems) {
        args.insert(0, first);
    }
    (args, inputs, live)
}

/// One source, or a capture beside a live feed (files and one URL, every reader of one reading
/// both): the command line's inputs (files first) and whether one is live.
fn sources_of(g: &Graph, sources: &[&Node], problems: &mut Problems) -> (Vec<Arg>, bool) {
    let (live, files): (Vec<&Node>, Vec<&Node>) =
        sources.iter().partition(|s| matches!(s.role, Role::Source { live: true }));
    if sources.len() > 2 || (sources.len() == 2 && live.len() != 1) {
        for extra in &sources[1..] {
            problems.push(&extra.at, "one source per pipeline, or a capture (paths) beside one live feed (url)");
        }
    } else if sources.len() == 2 {
        for n in &g.nodes {
            let reads = sources.iter().filter(|s| n.inputs.iter().any(|e| e.from == s.name)).count();
            if reads == 1 {
                let names = format!("input = [\"{}\", \"{}\"]", files[0].name, live[0].name);
                problems.push(&n.inputs[0].at, format!("a capture beside a live feed: read both ({names})"));
            }
        }
    }
    let inputs = files.iter().chain(&live).flat_map(|s| s.inputs_text.iter().cloned()).collect();
    (inputs, !live.is_empty())
}

fn file_at(g: &Graph) -> At {
    g.nodes.first().map_or(At { file: g.file.clone(), line: 1, key: "sources".into() }, |n| n.at.clone())
}

/// Records `a`; the same flag with another value from elsewhere is a problem (the planner
/// has one of each).
fn set(flags: &mut BTreeMap<&'static str, Arg>, a: &Arg, problems: &mut Problems) {
    match flags.get(a.flag) {
        Some(prev) if prev.value != a.value => problems.push(
            &a.at,
            format!("differs from {} (line {}): one value per pipeline, for now", prev.at.key, prev.at.line),
        ),
        Some(_) => {}
        None => {
            flags.insert(a.flag, a.clone());
        }
    }
}

/// `--kind` from what the graph reads of the source (and its own `kind`, if given).
fn kind(src: &Node, (trades, quotes): (bool, bool), flags: &mut BTreeMap<&'static str, Arg>, problems: &mut Problems) {
    let value = match (trades, quotes) {
        (true, false) => "trades",
        (false, true) => "quotes",
        _ => "auto",
    };
    let at = src.arg("--kind").map_or(src.at.clone(), |a| a.at.clone());
    set(flags, &Arg { flag: "--kind", value: Some(value.into()), at, shown: None }, problems);
}

/// Checks that node `n` sits where the planner puts its type; notes which kinds are read.
fn shape(g: &Graph, n: &Node, uses: &mut (bool, bool), problems: &mut Problems) {
    let Some(input) = n.inputs.first() else { return };
    let from = g.get(&input.from);
    let from_role = from.map(|f| f.role);
    let from_source = matches!(from_role, Some(Role::Source { .. }));
    let all_sources = n.inputs.iter().all(|e| g.get(&e.from).is_some_and(|f| matches!(f.role, Role::Source { .. })));
    if matches!(n.role, Role::Op(_)) && n.inputs.len() > 1 && !all_sources {
        problems.push(&n.inputs[1].at, "an operator takes one input (two only: a capture and a live feed)");
        return;
    }
    let ok = match n.role {
        Role::Op("dedupe") => from_source,
        Role::Op("throttle") | Role::Op("bbo") => from_source || from_role == Some(Role::Op("dedupe")),
        Role::Op("time_bars") | Role::Op("tick_bars") | Role::Op("volume_bars") => {
            matches!(from_role, Some(Role::Op("dedupe") | Role::Op("throttle"))) || from_source
        }
        Role::Op("quote_bars") => {
            matches!(from_role, Some(Role::Op("dedupe") | Role::Op("throttle") | Role::Op("bbo"))) || from_source
        }
        Role::Op("resample") => matches!(from_role, Some(Role::Op("time_bars") | Role::Op("resample"))),
        Role::Op("quote_resample") => matches!(from_role, Some(Role::Op("quote_bars") | Role::Op("quote_resample"))),
        _ => true,
    };
    if !ok {
        problems.push(
            &input.at,
            "not a shape the run planner builds: source → [dedupe] → [throttle] → bars → [resample …], \
             source → [dedupe] → [throttle | bbo] → quote_bars → [quote_resample …]",
        );
    }
    if from_source {
        match n.role {
            Role::Op("time_bars" | "tick_bars" | "volume_bars") | Role::Sink("nats") => uses.0 = true,
            Role::Op("bbo" | "quote_bars") => uses.1 = true,
            Role::Op("dedupe" | "throttle") if leads_to_quotes(g, &n.name) => uses.1 = true,
            Role::Op("dedupe" | "throttle") => uses.0 = true,
            _ => {}
        }
    }
}

/// `--dedupe` applies to every chain the run builds: with a dedupe in the graph, every bar node
/// must read through one (trade bars and quote bars alike).
fn one_dedupe_for_all(g: &Graph, problems: &mut Problems) {
    if !g.nodes.iter().any(|n| n.role == Role::Op("dedupe")) {
        return;
    }
    let makes = |n: &&Node| matches!(n.role, Role::Op("time_bars" | "tick_bars" | "volume_bars" | "quote_bars"));
    for n in g.nodes.iter().filter(makes).filter(|n| !behind_dedupe(g, n)) {
        let at = n.inputs.first().map_or(&n.at, |e| &e.at);
        problems.push(at, "the dedupe applies to every chain of the run, for now: read this through it too");
    }
}

/// Whether a dedupe is upstream of `n`.
fn behind_dedupe(g: &Graph, n: &Node) -> bool {
    g.reaches(n, true, |f| f.role == Role::Op("dedupe"), |_| true)
}

/// Whether the records leaving `name` (a dedupe or throttle) reach quote bars.
fn leads_to_quotes(g: &Graph, name: &str) -> bool {
    let Some(n) = g.get(name) else { return false };
    let quote_bars = |c: &Node| c.role == Role::Op("quote_bars");
    let passes = |c: &Node| matches!(c.role, Role::Op("dedupe" | "throttle" | "bbo"));
    g.reaches(n, false, quote_bars, passes)
}

/// `--bars`: the time or quote bars' width, then each resample's, in chain order. One list
/// serves both kinds, so trade and quote bars resample to the same widths.
fn bar_widths(g: &Graph, problems: &mut Problems) -> Option<Arg> {
    let trades = chain_widths(g, ("time_bars", "resample"), problems);
    let quotes = chain_widths(g, ("quote_bars", "quote_resample"), problems);
    match (trades, quotes) {
        (Some(t), Some(q)) if t.value != q.value => {
            let want = t.value.as_deref().unwrap_or_default();
            problems.push(&q.at, format!("trade and quote bars have the same widths per pipeline, for now ({want})"));
            Some(t)
        }
        (t, q) => t.or(q),
    }
}

/// The widths of the chain `(base, step)`: the base bars' width, then each step's in chain
/// order (`None` without base bars); a step outside the one chain is a problem.
fn chain_widths(g: &Graph, (base, step): (&'static str, &'static str), problems: &mut Problems) -> Option<Arg> {
    let mut at = g.nodes.iter().find(|n| n.role == Role::Op(base))?;
    let base_width = at.arg("--bars")?;
    let mut chain: Vec<&Arg> = Vec::new();
    while let Some(next) = g.consumers(&at.name).find(|c| c.role == Role::Op(step)) {
        chain.push(next.arg("--bars")?);
        at = next;
    }
    let mut steps = g.nodes.iter().filter(|n| n.role == Role::Op(step)).filter_map(|n| n.arg("--bars"));
    if let Some(stray) = steps.find(|w| !chain.iter().any(|c| c.at.line == w.at.line)) {
        problems.push(&stray.at, "resampling is one chain (each resample reads the one before), for now");
    }
    let mut all = vec![base_width.value.clone().unwrap_or_default()];
    all.extend(chain.iter().map(|c| c.value.clone().unwrap_or_default()));
    Some(Arg { flag: "--bars", value: Some(all.join(",")), at: base_width.at.clone(), shown: None })
}

/// Nodes that make bars (time, tick, volume and quote bars, and resamples of both).
fn bar_nodes(g: &Graph) -> Vec<&str> {
    let makes = |n: &&Node| {
        matches!(
            n.role,
            Role::Op("time_bars" | "tick_bars" | "volume_bars" | "quote_bars" | "resample" | "quote_resample")
        )
    };
    g.nodes.iter().filter(makes).map(|n| n.name.as_str()).collect()
}

/// A sink's flags where the planner puts what it takes: late trades to `--late-out`, the store
/// the finest trade bars, an output (`--out [WIDTHS=]…`) the widths of the bar nodes it reads.
fn sink_args(g: &Graph, n: &Node, problems: &mut Problems) -> Vec<Arg> {
    let Role::Sink(t) = n.role else { return Vec::new() };
    let mut args = n.args.clone();
    let late = n.inputs.iter().filter(|e| e.port.as_deref() == Some("late")).count();
    let Some(first) = n.inputs.first() else { return args };
    if late > 0 {
        return late_args(n, t, late, args, problems);
    }
    if t == "nats" && n.inputs.iter().any(|e| g.get(&e.from).is_some_and(carries_trades)) {
        return ticks_args(g, n, args, problems);
    }
    if let Some(a) = args.iter().find(|a| a.flag.starts_with("--ticks-")) {
        problems.push(&a.at, "only for a nats sink of trades (its input the source, dedupe or throttle)");
    }
    if t == "postgres" {
        let base = g.nodes.iter().find(|n| matches!(n.role, Role::Op("time_bars" | "tick_bars" | "volume_bars")));
        if n.inputs.len() != 1 || base.is_none_or(|b| b.name != first.from) {
            problems.push(
                &first.at,
                "the store takes the finest trade bars (one width: its table is keyed by instrument and window start)",
            );
        }
        return args;
    }
    if t == "stdout" {
        args.push(Arg { flag: "--out", value: Some("-".into()), at: n.at.clone(), shown: None });
    }
    let period = args.iter().find(|a| a.flag == "--out" && a.value.as_deref().is_some_and(|v| v.contains("{period}")));
    if let (Some(p), false, "file") = (period, args.iter().any(|a| a.flag == "--rotate"), t) {
        // `rotate` is one value per pipeline: another sink's would cut this one's files too.
        problems.push(&p.at, "{period} is filled only with this sink's rotate = DURATION");
    }
    if let Some(widths) = taken_widths(g, n, problems) {
        for a in args.iter_mut().filter(|a| a.flag == "--out") {
            a.value = a.value.take().map(|v| format!("{widths}={v}"));
        }
    }
    args
}

/// A sink reading a bar node's `late` port asks for late records: with `late` unset they go
/// there (`--late side`); `late = "drop"` says otherwise, a problem.
fn late_side(g: &Graph, flags: &mut BTreeMap<&'static str, Arg>, problems: &mut Problems) {
    let sinks = g.nodes.iter().filter(|n| matches!(n.role, Role::Sink(_)));
    let Some(e) = sinks.flat_map(|n| &n.inputs).find(|e| e.port.as_deref() == Some("late")) else { return };
    match flags.get("--late") {
        None => {
            flags.insert("--late", Arg { flag: "--late", value: Some("side".into()), at: e.at.clone(), shown: None });
        }
        Some(a) if a.value.as_deref() == Some("drop") => problems.push(
            &a.at,
            format!("\"drop\" drops late records, and a sink reads `{}.late`: late = \"side\" (or \"revise\")", e.from),
        ),
        Some(_) => {}
    }
}

/// A sink of late trades or quotes: `--late-out`, CSV, one file.
fn late_args(n: &Node, t: &str, late: usize, mut args: Vec<Arg>, problems: &mut Problems) -> Vec<Arg> {
    if late < n.inputs.len() || t != "file" {
        problems.push(&n.inputs[0].at, "late trades and quotes go to a file sink of their own (type = \"file\", CSV)");
    }
    args.iter_mut().filter(|a| a.flag == "--out").for_each(|a| a.flag = "--late-out");
    if let Some(f) = args.iter().find(|a| a.flag == "--format" && a.value.as_deref() != Some("csv")) {
        problems.push(&f.at, "late trades and quotes are written as ticklane CSV");
    }
    if let Some(r) = args.iter().find(|a| a.flag == "--rotate") {
        problems.push(&r.at, "late records go to one file (rotate cuts bar outputs)");
    }
    args.retain(|a| a.flag != "--format" && a.flag != "--rotate");
    args
}

/// The widths an output sink takes, as `--out`'s `WIDTHS=` (`None`: every width). It reads bar
/// nodes only, and of each width it takes, both kinds' bars when trades and quotes are read
/// (its `{kind}` splits them).
fn taken_widths(g: &Graph, n: &Node, problems: &mut Problems) -> Option<String> {
    let bars = bar_nodes(g);
    let mut taken: Vec<(usize, &str)> = Vec::new();
    for e in &n.inputs {
        match g.get(&e.from).filter(|f| bars.contains(&f.name.as_str())) {
            Some(f) => taken.push((width_index(g, f), f.arg("--bars").and_then(|a| a.value.as_deref()).unwrap_or(""))),
            None => {
                problems.push(&e.at, "an output of bars reads bar nodes (time, tick, volume or quote bars, resamples)")
            }
        }
    }
    let widths = bars.iter().filter_map(|b| g.get(b)).map(|b| width_index(g, b)).max().map_or(0, |m| m + 1);
    for b in bars.iter().filter_map(|b| g.get(b)) {
        let i = width_index(g, b);
        if taken.iter().any(|(t, _)| *t == i) && !n.inputs.iter().any(|e| e.from == b.name) {
            let at = &n.inputs[0].at;
            let msg = format!("add `{}`: an output takes both kinds of bars of a width ({{kind}} splits them)", b.name);
            problems.push(at, msg);
        }
    }
    taken.sort_unstable();
    taken.dedup_by_key(|(i, _)| *i);
    (taken.len() < widths).then(|| taken.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(","))
}

/// A bar node's place in its chain: 0 for the bars, then one more per resample (a graph with
/// a cycle is refused before it is lowered, so the walk ends).
fn width_index<'a>(g: &'a Graph, mut n: &'a Node) -> usize {
    let mut i = 0;
    while matches!(n.role, Role::Op("resample" | "quote_resample")) {
        i += 1;
        match n.inputs.first().and_then(|e| g.get(&e.from)) {
            Some(f) => n = f,
            None => break,
        }
    }
    i
}

/// The output sinks' `--out` and `--format`, in file order: as written for one output; for
/// several, each `--out` followed by its `--format` (csv where it gives none), as the command
/// line pairs them.
fn out_flags(outs: Vec<(&Node, Vec<Arg>)>) -> Vec<Arg> {
    let several = outs.len() > 1;
    let mut flags = Vec::new();
    for (n, mut args) in outs {
        args.sort_by_key(|a| a.flag != "--out");
        if several && !args.iter().any(|a| a.flag == "--format") {
            args.push(Arg { flag: "--format", value: Some("csv".into()), at: n.at.clone(), shown: None });
        }
        flags.extend(args);
    }
    flags
}

/// Whether trades flow out of `n`: the source, dedupe, or a throttle of trades.
fn carries_trades(n: &Node) -> bool {
    matches!(n.role, Role::Source { .. } | Role::Op("dedupe") | Role::Op("throttle"))
}

/// A nats sink of trades: `--ticks-out` (the trades that reach the bars, so it reads the end of
/// source → [dedupe] → [throttle]), `json` as the wire's name for it.
fn ticks_args(g: &Graph, n: &Node, mut args: Vec<Arg>, problems: &mut Problems) -> Vec<Arg> {
    let first = &n.inputs[0];
    let chained = |name: &str| g.consumers(name).any(|c| matches!(c.role, Role::Op("dedupe") | Role::Op("throttle")));
    let end = g.get(&first.from).is_some_and(|f| carries_trades(f) && !chained(&f.name));
    if n.inputs.len() != 1 || !end {
        problems.push(
            &first.at,
            "a nats sink of trades reads one node, the end of source → [dedupe] → [throttle] (what the bars read)",
        );
    }
    for a in args.iter_mut() {
        match a.flag {
            "--out" => a.flag = "--ticks-out",
            "--format" => {
                a.flag = "--ticks-format";
                if a.value.as_deref() == Some("jsonl") {
                    a.value = Some("json".into());
                }
            }
            _ => {}
        }
    }
    args
}
