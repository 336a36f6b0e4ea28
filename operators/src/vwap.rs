//! A bar's volume-weighted average price: Σ(price·size) / Σ size, rounded half away from
//! zero to 9 decimals; with zero total size (only zero-size prints) it is the close.

use ticklane_engine::Fixed;

/// The vwap of `notional` (Σ raw price · raw size) over `volume` (Σ raw size).
pub(crate) fn vwap(notional: i128, volume: i128, close: Fixed) -> Fixed {
    if volume == 0 {
        close
    } else {
        Fixed::from_raw(round_div(notional, volume))
    }
}

/// `n / d` rounded half away from zero, saturated to `i64` (`d != 0`).
pub(crate) fn round_div(n: i128, d: i128) -> i64 {
    let q = n / d;
    let r = n % d;
    let q = if 2 * r.unsigned_abs() >= d.unsigned_abs() { q + n.signum() * d.signum() } else { q };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(round_div(5, 2), 3);
        assert_eq!(round_div(-5, 2), -3);
        assert_eq!(round_div(4, 3), 1);
        assert_eq!(round_div(i128::MAX, 1), i64::MAX);
    }

    #[test]
    fn zero_volume_is_the_close() {
        assert_eq!(vwap(7, 0, Fixed::from_raw(3)), Fixed::from_raw(3));
        assert_eq!(vwap(61, 6, Fixed::ONE), Fixed::from_raw(10));
    }
}
