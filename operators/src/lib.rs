//! ticklane market-data operators. (Filled in by the operators work; see issue 3.)
