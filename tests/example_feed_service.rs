//! The embedding example's output, checked against bars computed independently here from the
//! raw capture text (own parsing, integer arithmetic and formatting; no ticklane code).

mod common;

use common::feed_service::{bundled, run};
use common::golden::oracle;

#[test]
fn example_bars_match_an_independent_computation() {
    for width in [1, 60] {
        let want = oracle(&bundled(), width);
        assert!(want.len() > 100);
        for shards in [1, 2] {
            let (got, late) = run(&bundled(), width * 1_000_000_000, shards).expect("example run");
            assert_eq!(late, 0);
            assert_eq!(got.len(), want.len(), "width {width}s shards {shards}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "width {width}s shards {shards}");
            }
        }
    }
}
