//! `--format parquet` through the real binary, read back with the `parquet` crate's own reader
//! (not ticklane's code): every row equals the CSV output of the same replay value for value,
//! the column types are those of design.md §5, at 1 and 3 shards; without `--out FILE` it is
//! refused naming the option.

mod common;

use common::{data, run, tmp, BIN};

use parquet::basic::{LogicalType, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::path::Path;
use std::process::Command;

/// A DECIMAL(38, 9) value as the CSV writes it: exact, trailing zeros trimmed.
fn decimal_text(bytes: &[u8]) -> String {
    let raw = i128::from_be_bytes(bytes.try_into().expect("16 bytes"));
    let (sign, m) = (if raw < 0 { "-" } else { "" }, raw.unsigned_abs());
    let (int, frac) = (m / 1_000_000_000, m % 1_000_000_000);
    let frac = format!("{frac:09}");
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

const HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";
const QUOTE_HEADER: &str = "instrument,window_start,window_end,bid_open,bid_high,bid_low,bid_close,ask_open,\
ask_high,ask_low,ask_close,spread_min,spread_max,spread_twa,quote_count,crossed_count,revision";

/// The file's rows as CSV lines (a null as an empty field), after checking its schema has the
/// columns of `header` and design.md §5's types.
fn rows_as_csv(path: &Path, header: &str) -> Vec<String> {
    let reader = SerializedFileReader::new(std::fs::File::open(path).expect("open")).expect("a Parquet file");
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names.join(","), header);
    for c in schema.columns() {
        match c.name() {
            "window_start" | "window_end" => {
                assert_eq!(c.physical_type(), Physical::INT64);
                assert!(matches!(
                    c.logical_type_ref(),
                    Some(LogicalType::Timestamp { is_adjusted_to_u_t_c: true, .. })
                ));
            }
            "instrument" | "trade_count" | "quote_count" | "crossed_count" | "revision" => {}
            _ => {
                assert_eq!(
                    (c.physical_type(), c.type_precision(), c.type_scale()),
                    (Physical::FIXED_LEN_BYTE_ARRAY, 38, 9),
                    "{}",
                    c.name()
                );
            }
        }
    }
    let mut lines = Vec::new();
    for row in reader.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        let fields: Vec<String> = row
            .get_column_iter()
            .map(|(_, f)| match f {
                Field::Str(s) => s.clone(),
                Field::Long(v) => v.to_string(),
                Field::Int(v) => v.to_string(),
                Field::Decimal(d) => decimal_text(d.data()),
                Field::Null => String::new(),
                other => panic!("unexpected field {other:?}"),
            })
            .collect();
        lines.push(fields.join(","));
    }
    lines
}

#[test]
fn parquet_rows_equal_the_csv_output_value_for_value() {
    let generated = tmp("gen.csv");
    let g = run(&[
        "gen",
        "--rows",
        "100000",
        "--instruments",
        "30",
        "--disorder",
        "2s",
        "--seed",
        "6",
        "--out",
        generated.to_str().expect("utf8"),
    ]);
    assert_eq!(g.status.code(), Some(0), "{}", String::from_utf8_lossy(&g.stderr));
    for (path, extra) in [
        (data("GLBX_ESH4_trades_2023-12-25.csv"), vec!["--bars", "1s"]),
        (data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"), vec!["--bars", "1s"]),
        // Revisions, and over 65,536 bars: more than one row group.
        (generated, vec!["--bars", "1ms", "--max-delay", "500ms", "--late", "revise", "--allowed-lateness", "2s"]),
    ] {
        let p = path.to_str().expect("utf8");
        let csv = run(&[&["replay"][..], &extra, &[p]].concat());
        assert_eq!(csv.status.code(), Some(0), "{}", String::from_utf8_lossy(&csv.stderr));
        let want: Vec<String> = String::from_utf8_lossy(&csv.stdout).lines().skip(1).map(String::from).collect();
        assert!(!want.is_empty());
        if extra.contains(&"1ms") {
            assert!(want.len() > 65_536, "{} bars: more than one row group", want.len());
            assert!(want.iter().any(|l| !l.ends_with(",0")), "some bars are revisions");
        }
        for shards in ["1", "3"] {
            let out = tmp(&format!("bars-{shards}.parquet"));
            let o = run(&[
                &["replay", "--format", "parquet", "--shards", shards, "--out", out.to_str().expect("utf8")][..],
                &extra,
                &[p],
            ]
            .concat());
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            let got = rows_as_csv(&out, HEADER);
            assert_eq!(got.len(), want.len(), "{p} at {shards} shards");
            assert!(got == want, "{p} at {shards} shards: Parquet rows differ from the CSV lines");
        }
    }
}

/// Quote bars: absent values (a window without a two-sided quote has no spread) are nulls where
/// the CSV has empty fields; every other value equal.
#[test]
fn quote_bar_rows_equal_the_csv_output_nulls_included() {
    let dir = tmp("onesided.csv");
    let mut text = String::from("ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz\n");
    for i in 0..5_000u64 {
        let ask = if i % 4 == 0 || i % 7 == 0 { String::new() } else { format!("{}.5", 100 + i % 7) };
        text += &format!("{},X{},{}.25,1,{ask},2\n", i * 70_000_000, i % 4, 100 + i % 5);
    }
    std::fs::write(&dir, text).expect("write");
    for path in [data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv"), dir] {
        let p = path.to_str().expect("utf8");
        let csv = run(&["replay", "--max-delay", "60s", p]);
        assert_eq!(csv.status.code(), Some(0), "{}", String::from_utf8_lossy(&csv.stderr));
        let want: Vec<String> = String::from_utf8_lossy(&csv.stdout).lines().skip(1).map(String::from).collect();
        let out = tmp("quote-bars.parquet");
        let o = run(&["replay", "--max-delay", "60s", "--format", "parquet", "--out", out.to_str().expect("utf8"), p]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let got = rows_as_csv(&out, QUOTE_HEADER);
        assert!(got == want && !want.is_empty(), "{p}: Parquet rows differ from the CSV lines");
        if p.ends_with("onesided.csv") {
            assert!(want.iter().any(|l| l.contains(",,")), "some values are absent");
        }
    }
}

#[test]
fn parquet_needs_a_file() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    for args in [vec!["--format", "parquet"], vec!["--format", "parquet", "--out", "-"]] {
        let o = Command::new(BIN).arg("replay").args(&args).arg(&f).output().expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--format parquet needs --out FILE"), "{err}");
        assert!(o.stdout.is_empty());
    }
}

/// `--rotate`: every file is a whole Parquet file (footer written when the next period began),
/// and their rows in period order equal the CSV output's lines, revisions included.
#[test]
fn rotated_parquet_files_are_each_readable_and_together_equal_the_csv() {
    let generated = tmp("rotate-gen.csv");
    let out = generated.to_str().expect("utf8");
    let g =
        run(&["gen", "--rows", "60000", "--instruments", "10", "--disorder", "2s", "--spacing", "3ms", "--out", out]);
    assert_eq!(g.status.code(), Some(0), "{}", String::from_utf8_lossy(&g.stderr));
    let flags = ["--kind", "trades", "--late", "revise", "--allowed-lateness", "3s", "--max-delay", "500ms"];
    let p = generated.to_str().expect("utf8");
    let csv = run(&[&["replay"][..], &flags, &[p]].concat());
    assert_eq!(csv.status.code(), Some(0), "{}", String::from_utf8_lossy(&csv.stderr));
    let want: Vec<String> = String::from_utf8_lossy(&csv.stdout).lines().skip(1).map(String::from).collect();
    let dir = tmp("rotated-parquet");
    std::fs::create_dir_all(&dir).expect("dir");
    let template = dir.join("bars_{period}.parquet");
    let args = ["replay", "--format", "parquet", "--rotate", "1m", "--out", template.to_str().expect("utf8")];
    let o = run(&[&args[..], &flags, &[p]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let mut parts: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    parts.sort();
    assert!(parts.len() >= 3, "{parts:?}");
    let got: Vec<String> = parts.iter().flat_map(|f| rows_as_csv(f, HEADER)).collect();
    assert!(want.iter().any(|l| !l.ends_with(",0")), "some bars are revisions");
    assert!(got == want, "the rotated Parquet files' rows differ from the CSV lines");
}
