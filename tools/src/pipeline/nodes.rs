//! The nodes a pipeline file declares, read from their sections: what each takes and gives,
//! its inputs, and its settings as the `replay`/`run` flags they mean.

use super::doc::{At, Problems, Section, Value};

/// What flows on an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Trades,
    Quotes,
    Bars,
    QuoteBars,
}

impl Flow {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flow::Trades => "trades",
            Flow::Quotes => "quotes",
            Flow::Bars => "bars",
            Flow::QuoteBars => "quote bars",
        }
    }
}

/// An operator type: what it takes and gives, and its settings (`key`, flag, required).
pub(crate) struct OpType {
    pub(crate) name: &'static str,
    pub(crate) takes: &'static [Flow],
    /// `None`: gives what it takes.
    pub(crate) gives: Option<Flow>,
    keys: &'static [(&'static str, &'static str, bool)],
}

const BAR_KEYS: [(&str, &str, bool); 5] = [
    ("width", "--bars", true),
    ("offset", "--bar-offset", false),
    ("max_delay", "--max-delay", false),
    ("late", "--late", false),
    ("allowed_lateness", "--allowed-lateness", false),
];

/// Every operator the library has, by the name a pipeline file gives its `type`.
pub(crate) const OPERATORS: [OpType; 9] = [
    OpType {
        name: "dedupe",
        takes: &[Flow::Trades, Flow::Quotes],
        gives: None,
        keys: &[("ttl", "--dedupe-ttl", false), ("key", "--dedupe-key", false)],
    },
    OpType {
        name: "throttle",
        takes: &[Flow::Trades, Flow::Quotes],
        gives: None,
        keys: &[("rate", "--throttle", true)],
    },
    OpType {
        name: "bbo",
        takes: &[Flow::Quotes],
        gives: Some(Flow::Quotes),
        keys: &[("interval", "--throttle", true)],
    },
    OpType {
        name: "time_bars",
        takes: &[Flow::Trades],
        gives: Some(Flow::Bars),
        keys: &[BAR_KEYS[0], BAR_KEYS[1], BAR_KEYS[2], BAR_KEYS[3], BAR_KEYS[4], ("empty", "--empty-bars", false)],
    },
    OpType {
        name: "tick_bars",
        takes: &[Flow::Trades],
        gives: Some(Flow::Bars),
        keys: &[("count", "--tick-bars", true)],
    },
    OpType {
        name: "volume_bars",
        takes: &[Flow::Trades],
        gives: Some(Flow::Bars),
        keys: &[("volume", "--volume-bars", true)],
    },
    OpType { name: "resample", takes: &[Flow::Bars], gives: Some(Flow::Bars), keys: &[("width", "--bars", true)] },
    OpType { name: "quote_bars", takes: &[Flow::Quotes], gives: Some(Flow::QuoteBars), keys: &BAR_KEYS },
    OpType {
        name: "quote_resample",
        takes: &[Flow::QuoteBars],
        gives: Some(Flow::QuoteBars),
        keys: &[("width", "--bars", true)],
    },
];

/// A sink type: what it takes and its settings.
struct SinkType {
    name: &'static str,
    keys: &'static [(&'static str, &'static str, bool)],
}

const SINKS: [SinkType; 4] = [
    SinkType {
        name: "file",
        keys: &[("path", "--out", true), ("format", "--format", false), ("rotate", "--rotate", false)],
    },
    SinkType { name: "stdout", keys: &[("format", "--format", false)] },
    SinkType {
        name: "nats",
        keys: &[
            ("url", "--out", true),
            ("format", "--format", false),
            ("partitions", "--ticks-partitions", false),
            ("replicas", "--ticks-replicas", false),
        ],
    },
    SinkType {
        name: "postgres",
        keys: &[
            ("url_env", "--sink-postgres", true),
            ("table", "--pg-table", false),
            ("pressure", "--pressure", false),
            ("batch_rows", "--pg-batch-rows", false),
            ("batch_interval", "--pg-batch-interval", false),
            ("queue_high", "--pg-queue-high", false),
            ("queue_low", "--pg-queue-low", false),
            ("writers", "--pg-writers", false),
            ("flush_timeout", "--pg-flush-timeout", false),
        ],
    },
];

/// Settings of a source: key and flag.
const SOURCE_KEYS: [(&str, &str); 8] = [
    ("kind", "--kind"),
    ("input_format", "--input-format"),
    ("venue", "--venue"),
    ("instruments", "--instruments"),
    ("on_error", "--on-error"),
    ("speed", "--speed"),
    ("reconnect_max", "--reconnect-max"),
    ("stall_timeout", "--stall-timeout"),
];

/// Settings of `[run]` (the engine's `Config` and the process): key and flag; a `bool` key
/// is a switch.
pub(crate) const RUN_KEYS: [(&str, &str); 11] = [
    ("shards", "--shards"),
    ("pin", "--pin"),
    ("oversubscribe", "--oversubscribe"),
    ("ring_capacity", "--ring-capacity"),
    ("egress_records", "--egress-records"),
    ("batch_size", "--batch-size"),
    ("idle_timeout", "--idle-timeout"),
    ("drain_timeout", "--drain-timeout"),
    ("metrics_addr", "--metrics-addr"),
    ("summary", "--summary"),
    ("late_out", "--late-out"),
];

/// The flag of a command line's inputs (files or a URL), as the planner names them in its
/// messages (`INPUT: …`).
pub const INPUT: &str = "INPUT";

/// One setting as a flag: `value` `None` for a switch.
#[derive(Clone, Debug)]
pub struct Arg {
    /// The flag (`--bars`).
    pub flag: &'static str,
    /// Its value; `None` for a switch.
    pub value: Option<String>,
    /// Where it was set.
    pub at: At,
    /// Shown as this instead of the value (a secret's variable).
    pub shown: Option<String>,
}

/// An input of a node: `NAME` or `NAME.PORT`.
#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub(crate) from: String,
    pub(crate) port: Option<String>,
    pub(crate) at: At,
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A live URL (`true`) or files.
    Source {
        live: bool,
    },
    Op(&'static str),
    Sink(&'static str),
}

/// A node of the graph.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) at: At,
    pub(crate) role: Role,
    pub(crate) inputs: Vec<Edge>,
    pub(crate) args: Vec<Arg>,
    /// A source's URL or files, each an `INPUT` of the command line located at its key.
    pub(crate) inputs_text: Vec<Arg>,
}

impl Node {
    fn new(s: &Section, role: Role) -> Node {
        Node { name: s.name.clone(), at: s.at.clone(), role, inputs: Vec::new(), args: Vec::new(), inputs_text: vec![] }
    }

    /// The operator type, for an operator.
    pub(crate) fn op(&self) -> Option<&'static OpType> {
        match self.role {
            Role::Op(t) => OPERATORS.iter().find(|o| o.name == t),
            _ => None,
        }
    }

    /// The value given for `flag`, if any.
    pub(crate) fn arg(&self, flag: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.flag == flag)
    }
}

/// A source section: `url = "…"` or `paths = […]`, and its reading settings.
pub(crate) fn source(mut s: Section, problems: &mut Problems) -> Option<Node> {
    let url = s.one("url", problems);
    let paths = s.list("paths");
    let live = match (&url, &paths) {
        (Some(_), Some((at, _))) => {
            problems.push(at, "a source reads either url or paths, not both");
            true
        }
        (None, None) => {
            problems.push(&s.at, "a source needs url = \"ws://…|wss://…|nats://…|jetstream://…\" or paths = [FILE, …]");
            s.finish(problems);
            return None;
        }
        (u, _) => u.is_some(),
    };
    let mut n = Node::new(&s, Role::Source { live });
    let input = |at: &At, text: String| Arg { flag: INPUT, value: Some(text), at: at.clone(), shown: None };
    n.inputs_text = match (url, paths) {
        (Some((at, u)), _) => vec![input(&at, u)],
        (None, Some((at, p))) => p.into_iter().map(|f| input(&at, f)).collect(),
        (None, None) => Vec::new(),
    };
    for (key, flag) in SOURCE_KEYS {
        if let Some((at, v)) = s.get(key) {
            let value = match v {
                Value::One(v) => v,
                Value::List(l) => l.join(","),
            };
            n.args.push(Arg { flag, value: Some(value), at, shown: None });
        }
    }
    s.finish(problems);
    Some(n)
}

/// An operator section: `type`, `input`, and the type's settings.
pub(crate) fn operator(mut s: Section, problems: &mut Problems) -> Option<Node> {
    let (tat, t) = required(&mut s, "type", problems)?;
    let Some(op) = OPERATORS.iter().find(|o| o.name == t) else {
        let names: Vec<&str> = OPERATORS.iter().map(|o| o.name).collect();
        problems.push(&tat, format!("unknown operator {t:?}; the operators are {}", names.join(", ")));
        s.allow(&["input"]);
        s.allow(&OPERATORS.iter().flat_map(|o| o.keys.iter().map(|k| k.0)).collect::<Vec<_>>());
        s.finish(problems);
        return None;
    };
    let mut n = Node::new(&s, Role::Op(op.name));
    n.inputs = inputs(&mut s, problems); // more than one: only the two sources (the graph's check)
    settings(&mut s, &mut n, op.keys, problems);
    if op.name == "bbo" {
        for a in &mut n.args {
            a.value = a.value.take().map(|v| format!("0/{v}:conflate"));
        }
    }
    s.finish(problems);
    Some(n)
}

/// A sink section: `type`, `input` (one name or a list), and the type's settings.
pub(crate) fn sink(mut s: Section, problems: &mut Problems) -> Option<Node> {
    let (tat, t) = required(&mut s, "type", problems)?;
    let Some(st) = SINKS.iter().find(|k| k.name == t) else {
        let names: Vec<&str> = SINKS.iter().map(|k| k.name).collect();
        problems.push(&tat, format!("unknown sink {t:?}; the sinks are {}", names.join(", ")));
        s.allow(&["input"]);
        s.allow(&SINKS.iter().flat_map(|k| k.keys.iter().map(|k| k.0)).collect::<Vec<_>>());
        s.finish(problems);
        return None;
    };
    let mut n = Node::new(&s, Role::Sink(st.name));
    n.inputs = inputs(&mut s, problems);
    if let Some((at, _)) = s.get("url").filter(|_| st.name == "postgres") {
        problems
            .push(&at, "a database URL holds a password: put it in the environment and name the variable in url_env");
    }
    settings(&mut s, &mut n, st.keys, problems);
    secrets(&mut n, problems);
    if st.name == "nats" {
        // On a bus, `json` is one JSON object per message (the `jsonl` output's objects).
        for a in n.args.iter_mut().filter(|a| a.flag == "--format") {
            if a.value.as_deref() == Some("json") {
                a.value = Some("jsonl".into());
            }
        }
    }
    s.finish(problems);
    Some(n)
}

/// The `[run]` section's settings.
pub(crate) fn run(mut s: Section, problems: &mut Problems) -> Vec<Arg> {
    let mut args = Vec::new();
    for (key, flag) in RUN_KEYS {
        if let Some((at, v)) = s.one(key, problems) {
            match (flag, v.as_str()) {
                ("--oversubscribe", "true") => args.push(Arg { flag, value: None, at, shown: None }),
                ("--oversubscribe", "false") => {}
                ("--oversubscribe", _) => problems.push(&at, "expected true or false"),
                _ => args.push(Arg { flag, value: Some(v), at, shown: None }),
            }
        }
    }
    s.finish(problems);
    args
}

fn required(s: &mut Section, key: &str, problems: &mut Problems) -> Option<(At, String)> {
    let v = s.one(key, problems);
    if v.is_none() {
        problems.push(&s.at, format!("missing key {key:?}")); // its other keys go unchecked
    }
    v
}

/// `input = "NAME"`, `"NAME.PORT"` or a list of them.
fn inputs(s: &mut Section, problems: &mut Problems) -> Vec<Edge> {
    let Some((at, names)) = s.list("input") else {
        problems.push(&s.at, "missing key \"input\" (the name of the source or operator it reads)");
        return Vec::new();
    };
    let edge = |name: &str| {
        let (from, port) = match name.split_once('.') {
            Some((f, p)) => (f.to_string(), Some(p.to_string())),
            None => (name.to_string(), None),
        };
        Edge { from, port, at: at.clone() }
    };
    names.iter().map(|n| edge(n)).collect()
}

/// The type's settings as flags; a missing required one is a problem.
fn settings(s: &mut Section, n: &mut Node, keys: &[(&str, &'static str, bool)], problems: &mut Problems) {
    for &(key, flag, needed) in keys {
        match s.one(key, problems) {
            Some((at, v)) => n.args.push(Arg { flag, value: Some(v), at, shown: None }),
            None if needed => problems.push(&s.at, format!("missing key {key:?}")),
            None => {}
        }
    }
}

/// `url_env`: the variable's value, shown by its name. A missing variable is a problem that
/// leaves the graph whole: the name stands in for the value, so the rest is still checked.
fn secrets(n: &mut Node, problems: &mut Problems) {
    for a in n.args.iter_mut().filter(|a| a.flag == "--sink-postgres") {
        let var = a.value.take().unwrap_or_default();
        let shown = format!("\"${var}\"");
        match std::env::var(&var) {
            Ok(v) if !v.is_empty() => a.value = Some(v),
            _ => {
                problems
                    .push_unset(&a.at, format!("environment variable {var} is not set (it holds the database URL)"));
                a.value = Some(shown.clone());
            }
        }
        a.shown = Some(shown);
    }
}
