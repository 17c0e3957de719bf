//! Fixed-point rescaling: the one rounding rule every integer step of the engine uses.
//!
//! A real factor `M` (a ratio of scales, e.g. `s_in * s_w / s_out`) is stored as a 31-bit
//! multiplier `m` and a right shift `n`, `M ~ m / 2^n`, computed once on the host. The device
//! then computes `round(x * M)` as `(x * m + 2^(n-1)) >> n` in 64-bit integers: **round half
//! toward +infinity**, one product and one shift. Every target (portable kernel, DSP, NEON,
//! host) must use exactly this, so that results are bit-identical everywhere.

/// `x -> round(x * multiplier / 2^shift)` with round-half-up; see the module doc.
///
/// Stored in blobs as two little-endian `i32`s, which is also its memory layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Requant {
    /// `m`, in `0..2^31`.
    pub multiplier: i32,
    /// `n`, in `1..=62`.
    pub shift: i32,
}

impl Requant {
    /// Whether the pair is one [`Requant::apply`] accepts: a blob is checked with this once.
    pub const fn is_valid(self) -> bool {
        self.multiplier >= 0 && self.shift >= 1 && self.shift <= 62
    }

    /// `round(x * m / 2^n)`, saturated to `i32`.
    ///
    /// The product `|x * m| <= 2^62` and the rounding term `2^(n-1) <= 2^61` cannot overflow
    /// `i64`; an out-of-range pair (refused at load time) would still only give a wrong value.
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let product = x as i64 * self.multiplier as i64;
        // The usual case (factors below 1/4, every scale ratio of the shipped models), in 32-bit
        // halves for 32-bit cores: floor((p + 2^(n-1)) / 2^n) = floor((floor(p / 2^(n-1)) + 1) / 2),
        // and for n >= 33, floor(p / 2^(n-1)) = (p >> 32) >> (n - 33), the product's high word
        // (|p| <= 2^62, so it and the result fit an i32: no clamp).
        if (33..=62).contains(&self.shift) {
            let high = (product >> 32) as i32;
            return ((high >> (self.shift - 33)) + 1) >> 1;
        }
        self.apply_large(x)
    }

    /// [`Requant::apply`] for the other shifts. Shifts 2..=32 (factors from 1/4 up: the FFN's,
    /// on int8 inputs) take the 32-bit path too where `x 2^(33 - n)` fits an i32 (all but huge
    /// sums): on shift 33 it is the same fraction. Not inlined: one copy for every call site.
    #[inline(never)]
    fn apply_large(self, x: i32) -> i32 {
        let k = 33i32.wrapping_sub(self.shift);
        if (1..=31).contains(&k) && (x << k) >> k == x {
            let high = (((x << k) as i64 * self.multiplier as i64) >> 32) as i32;
            return (high + 1) >> 1;
        }
        let product = x as i64 * self.multiplier as i64;
        let shift = (self.shift & 63) as u32;
        let rounded = product.saturating_add((1i64 << shift) >> 1) >> shift;
        rounded.clamp(i32::MIN as i64, i32::MAX as i64) as i32
    }

    /// [`Requant::apply`], saturated to `i8`.
    #[inline]
    pub fn to_i8(self, x: i32) -> i8 {
        self.apply(x).clamp(i8::MIN as i32, i8::MAX as i32) as i8
    }

    /// [`Requant::apply`], saturated to `i16`.
    #[inline]
    pub fn to_i16(self, x: i32) -> i16 {
        self.apply(x).clamp(i16::MIN as i32, i16::MAX as i32) as i16
    }

    /// The pair closest to the real factor `factor` (host side; the device never sees floats).
    ///
    /// Returns `None` when the factor is negative, not finite, or too large (`>= 2^30`).
    #[cfg(any(test, feature = "std"))]
    pub fn from_real(factor: f64) -> Option<Self> {
        if !factor.is_finite() || factor < 0.0 || factor >= (1u64 << 30) as f64 {
            return None;
        }
        if factor == 0.0 {
            return Some(Self { multiplier: 0, shift: 1 });
        }
        // Largest shift keeping m below 2^31: factor * 2^n < 2^31.
        let mut shift = 62;
        while shift > 1 && factor * (1u64 << shift) as f64 >= (1u64 << 31) as f64 {
            shift -= 1;
        }
        let multiplier = (factor * (1u64 << shift) as f64).round();
        let multiplier = if multiplier >= (1u64 << 31) as f64 { (1u64 << 31) - 1 } else { multiplier as u64 };
        Some(Self { multiplier: multiplier as i32, shift })
    }
}

// Integer-exact tests (by-hand values, extremes): tests/on-target/src/numerics.rs, which also
// runs on every QEMU board. These compare with floating point, on the host only.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_real_is_close() {
        for factor in [1e-6, 0.0123, 0.5, 1.0, 3.75, 1000.0, 123456.0] {
            let r = Requant::from_real(factor).unwrap();
            assert!(r.is_valid());
            let x = 1_000;
            let exact = x as f64 * factor;
            assert!((r.apply(x) as f64 - exact).abs() <= 0.5 + exact.abs() * 1e-8, "{factor}");
        }
        assert_eq!(Requant::from_real(-1.0), None);
        assert_eq!(Requant::from_real(f64::NAN), None);
    }
}
