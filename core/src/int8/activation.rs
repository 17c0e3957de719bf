//! GELU (or whichever `hidden_act` the model uses) on int16 inputs: a table the host fills,
//! read with linear interpolation.
//!
//! The table samples `act` at 512 evenly spaced points of the int16 input range plus the end
//! point, `table[j] = act((j * 128 - 32768) * s_in) / s_out`. An input `x` falls in segment
//! `j = (x + 32768) >> 7`; its low 7 bits weigh the two end points. For GELU the interpolation
//! error is below `h^2 / 10` (`h` = 128 input steps; |GELU''| <= 0.8), about one output step
//! of the shipped models, against up to half an int8 input step (0.04-0.08 on those models) for
//! the plain 256-entry int8-index table of blob format 2. The classifier's activation input in
//! int8 alone flipped 9 of CLINC150's 5,500 test labels of clinc-tiny (`docs/INT8.md`).

/// log2 of the number of segments.
const SEGMENT_BITS: u32 = 9;
/// The low input bits that interpolate within a segment.
const FRACTION_BITS: u32 = 16 - SEGMENT_BITS;
/// Entries of one activation table: the segments' start points and the last end point.
pub const TABLE_LEN: usize = (1 << SEGMENT_BITS) + 1;

/// The input value at which `table[j]` samples the activation (host side, to fill tables).
pub const fn table_input(j: usize) -> i32 {
    ((j as i32) << FRACTION_BITS) - 32768
}

/// `act(x)` from a [`TABLE_LEN`]-entry table, rounded half up like every [`super::Requant`].
///
/// A table of another length (refused when the blob loads) gives 0.
#[inline]
pub fn lookup(table: &[i16], x: i16) -> i16 {
    // A fixed-size view: every segment index below is then provably in bounds.
    let Ok(table) = <&[i16; TABLE_LEN]>::try_from(table) else { return 0 };
    let u = (x as i32 + 32768) as u32;
    let j = (u >> FRACTION_BITS) as usize & ((1 << SEGMENT_BITS) - 1);
    let fraction = (u & ((1 << FRACTION_BITS) - 1)) as i32;
    let (start, end) = (table[j] as i32, table[j + 1] as i32);
    // |end - start| < 2^16 and fraction < 2^7: the product fits easily; the result lies
    // between two i16 values, so it is an i16.
    (start + (((end - start) * fraction + (1 << (FRACTION_BITS - 1))) >> FRACTION_BITS)) as i16
}

/// [`lookup`] of a table whose output is int8 in 1/256 steps (the FFN's activation, whose
/// output is the next product's int8 input): rounded half up to the int8 step, saturated.
/// Interpolating on the fine steps and rounding once keeps the error at half an int8 step, where
/// a table of int8 entries would add its own rounding to the interpolation's.
#[inline]
pub fn lookup_i8(table: &[i16], x: i16) -> i8 {
    ((lookup(table, x) as i32 + 128) >> 8).clamp(i8::MIN as i32, i8::MAX as i32) as i8
}
