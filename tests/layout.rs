//! Pins the size of the hot records: a change here changes ring and cache footprint.

use std::mem::size_of;
use ticklane::{Bar, Fixed, InstrumentId, Quote, Stamped, Trade, TradeId};

#[test]
fn hot_record_sizes() {
    assert_eq!(size_of::<Fixed>(), 8);
    assert_eq!(size_of::<InstrumentId>(), 4);
    assert_eq!(size_of::<TradeId>(), 17);
    assert_eq!(size_of::<Trade>(), 56);
    assert_eq!(size_of::<Stamped<Trade>>(), 64, "one stamped trade per cache line");
    assert_eq!(size_of::<Quote>(), 64, "56, plus the venue's update id dedupe keys by");
    assert_eq!(size_of::<Stamped<Quote>>(), 72);
    assert_eq!(size_of::<Bar>(), 144, "96, plus the notional and the open/close times resampling needs");
}
