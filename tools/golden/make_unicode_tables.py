#!/usr/bin/env python3
"""Generates core/src/tokenizer/unicode_tables.rs by probing the installed `tokenizers` library.

Usage (from the repository root):  .venv/bin/python tools/golden/make_unicode_tables.py

The tables are not derived from a Unicode database: every Unicode scalar value is run through
the reference itself, one BertNormalizer option at a time, and through BertPreTokenizer. That
way the Rust tokenizer inherits exactly the Unicode versions `tokenizers` was compiled with
(its `unicode_categories` and `unicode-normalization-alignments` crates and the Rust std of its
build), which differ from both Python's `unicodedata` and today's Rust `char::to_lowercase`.

What one probe per code point can see, and what it cannot:
- clean_text, handle_chinese_chars, lowercase and BertPreTokenizer act on one char at a time,
  so per-char answers compose exactly.
- strip_accents is NFD followed by dropping Mn marks. NFD decomposes char by char, then sorts
  runs of combining marks by canonical combining class. Mn marks are dropped anyway, so the
  sort only matters between marks that survive (Mc marks with a non-zero class, such as the
  musical-symbol stems and flags U+1D165..U+1D172, and marks newer than tokenizers' category
  table). Such input is reproduced in its written order, not in canonical order. Probing every
  ordered pair of candidate marks finds the marks concerned; the table header lists them.
"""

import pathlib
import sys
import unicodedata

import tokenizers
from tokenizers import normalizers, pre_tokenizers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "core/src/tokenizer/unicode_tables.rs"
COMMAND = ".venv/bin/python tools/golden/make_unicode_tables.py"

# Class bits of one code point. Keep in step with the constants written below.
CLEAN_KEEP, CLEAN_DROP, CLEAN_SPACE = 0, 1, 2
CHINESE = 1 << 2
SPLIT_WORD, SPLIT_SPACE, SPLIT_PUNCT = 0 << 3, 1 << 3, 2 << 3
STRIP_DROP = 1 << 5

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def scalars():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def hangul_nfd(cp):
    """The algorithmic decomposition of a precomposed Hangul syllable (Unicode 3.12)."""
    s = cp - HANGUL_FIRST
    out = chr(0x1100 + s // 588) + chr(0x1161 + (s % 588) // 28)
    if s % 28:
        out += chr(0x11A7 + s % 28)
    return out


def probe():
    bert = normalizers.BertNormalizer
    clean = bert(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    chinese = bert(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False)
    strip = bert(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = bert(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()

    classes, strip_map, lower_map = {}, {}, {}
    for cp in scalars():
        c = chr(cp)
        cls = 0
        out = clean.normalize_str(c)
        if out == "":
            cls |= CLEAN_DROP
        elif out == " ":
            cls |= CLEAN_SPACE
        else:
            assert out == c, (hex(cp), out)

        out = chinese.normalize_str(c)
        if out != c:
            assert out == f" {c} ", (hex(cp), out)
            cls |= CHINESE

        words = [w for w, _ in pre.pre_tokenize_str(f"a{c}b")]
        if words == ["a", "b"]:
            cls |= SPLIT_SPACE
        elif words == ["a", c, "b"]:
            cls |= SPLIT_PUNCT
        else:
            assert words == [f"a{c}b"], (hex(cp), words)

        out = strip.normalize_str(c)
        if out == "":
            cls |= STRIP_DROP
        elif out != c:
            strip_map[cp] = out

        out = lower.normalize_str(c)
        if out != c:
            lower_map[cp] = out
        classes[cp] = cls
    return classes, strip_map, lower_map


def class_runs(classes):
    """[(start, class)]: a run lasts until the next start. Surrogates join the run before them."""
    runs, prev = [], None
    for cp in range(0x110000):
        cls = classes.get(cp, prev)
        if cls != prev:
            runs.append((cp, cls))
            prev = cls
    return runs


def lower_runs(single):
    """Groups {cp: lowercase cp} into (start, len, stride, delta): same delta, keys stride 1 or 2."""
    runs = []
    for cp in sorted(single):
        delta = single[cp] - cp
        if runs:
            start, n, stride, d = runs[-1]
            last = start + (n - 1) * stride
            if d == delta and n < 1024:
                if n == 1 and cp - last in (1, 2):
                    runs[-1] = (start, 2, cp - last, d)
                    continue
                if n > 1 and cp - last == stride:
                    runs[-1] = (start, n + 1, stride, d)
                    continue
        runs.append((cp, 1, 1, delta))
    return runs


def reorder_sensitive(classes):
    """Chars whose order NFD changes when they follow or precede another kept char: probed on
    every ordered pair of marks that survive accent stripping (Python's `unicodedata` only
    proposes the candidates; the reference decides)."""
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    marks = [
        cp
        for cp in scalars()
        if not classes[cp] & STRIP_DROP
        and (unicodedata.category(chr(cp))[0] == "M" or unicodedata.combining(chr(cp)))
    ]
    alone = {cp: strip.normalize_str(chr(cp)) for cp in marks}
    sensitive = set()
    for x in marks:
        for y in marks:
            if strip.normalize_str(chr(x) + chr(y)) != alone[x] + alone[y]:
                sensitive.update((x, y))
    return sorted(sensitive)


def ranges(cps):
    out = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return ", ".join(f"U+{a:04X}" if a == b else f"U+{a:04X}..{b:04X}" for a, b in out)


def rust_str(s):
    return '"' + "".join(f"\\u{{{ord(c):x}}}" for c in s) + '"'


def wrap_doc(text, width=96):
    lines, line = [], "//!"
    for word in text.split(" "):
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "//!"
        line += " " + word
    return "\n".join(lines + [line])


def wrap(items, per_line, indent="    "):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append(indent + " ".join(items[i : i + per_line]))
    return "\n".join(lines)


def self_check(classes, runs, strip_single, strip_multi, lruns, lower_multi, strip_map, lower_map):
    """Decodes the tables the way normalize.rs does and compares with the probe, code point by code point."""
    import bisect

    starts = [s for s, _ in runs]
    lstarts = [r[0] for r in lruns]
    for cp in scalars():
        assert runs[bisect.bisect_right(starts, cp) - 1][1] == classes[cp], hex(cp)
        if classes[cp] & STRIP_DROP:
            got = ""
        elif cp in strip_multi:
            got = strip_multi[cp]
        elif HANGUL_FIRST <= cp <= HANGUL_LAST:
            got = hangul_nfd(cp)
        else:
            got = chr(strip_single.get(cp, cp))
        assert got == strip_map.get(cp, "" if classes[cp] & STRIP_DROP else chr(cp)), hex(cp)

        i = bisect.bisect_right(lstarts, cp) - 1
        got = chr(cp)
        if cp in lower_multi:
            got = lower_multi[cp]
        elif i >= 0:
            start, n, stride, delta = lruns[i]
            if (cp - start) % stride == 0 and (cp - start) // stride < n:
                got = chr(cp + delta)
        assert got == lower_map.get(cp, chr(cp)), hex(cp)


def main():
    classes, strip_map, lower_map = probe()

    strip_single, strip_multi = {}, {}
    for cp, out in strip_map.items():
        if HANGUL_FIRST <= cp <= HANGUL_LAST:
            assert out == hangul_nfd(cp), hex(cp)
        elif len(out) == 1:
            strip_single[cp] = ord(out)
        else:
            strip_multi[cp] = out
    assert len([cp for cp in strip_map if HANGUL_FIRST <= cp <= HANGUL_LAST]) == HANGUL_LAST - HANGUL_FIRST + 1
    lower_single = {cp: ord(o) for cp, o in lower_map.items() if len(o) == 1}
    lower_multi = {cp: o for cp, o in lower_map.items() if len(o) != 1}

    runs = class_runs(classes)
    lruns = lower_runs(lower_single)
    assert all(n <= 1024 and stride in (1, 2) for _, n, stride, _ in lruns)
    self_check(classes, runs, strip_single, strip_multi, lruns, lower_multi, strip_map, lower_map)

    segments = {}
    for cp, to in sorted(strip_single.items()):
        segments.setdefault((cp >> 16, to >> 16), []).append((cp & 0xFFFF, to & 0xFFFF))

    reorder = reorder_sensitive(classes)

    # Sizes on a 32-bit target: &str is 8 bytes plus its text.
    size_runs = 4 * len(runs)
    size_strip = sum(4 * len(v) + 12 for v in segments.values())
    size_strip_multi = sum(12 + len(v.encode()) for v in strip_multi.values())
    size_lower = 8 * len(lruns)
    size_lower_multi = sum(12 + len(v.encode()) for v in lower_multi.values())
    total = size_runs + size_strip + size_strip_multi + size_lower + size_lower_multi

    seg_src = []
    for (kp, vp), pairs in sorted(segments.items()):
        items = [f"(0x{k:04x}, 0x{v:04x})," for k, v in pairs]
        seg_src.append(f"    ({kp}, {vp}, &[\n{wrap(items, 6, '        ')}\n    ]),")

    src = f"""//! Unicode tables of the BERT normalizer and pre-tokenizer, probed from Hugging Face `tokenizers`.
//!
//! GENERATED by `{COMMAND}` from `tokenizers` {tokenizers.__version__}
//! (every Unicode scalar value through `BertNormalizer`, one option at a time, and through
//! `BertPreTokenizer`). Do not edit; rerun the script.
//!
//! Sizes on a 32-bit target: {total} bytes in all. {len(runs)} class runs ({size_runs} B), {len(strip_single)} single-char accent
//! strips in {len(segments)} segments ({size_strip} B), {len(strip_multi)} multi-char strips ({size_strip_multi} B), {len(lruns)} lowercase runs
//! ({size_lower} B), {len(lower_multi)} multi-char lowercases ({size_lower_multi} B). Hangul syllables decompose algorithmically.
//!
//! Limitation: NFD sorts adjacent combining marks by combining class, which per-char probes cannot
//! see. Stripping accents drops nonspacing marks anyway, so only these {len(reorder)} marks, which it keeps,
//! can come out in another order than Hugging Face's when two of them meet out of canonical order:
{wrap_doc(ranges(reorder))}

/// [`CLASS_RUNS`] class bits 0..2, `clean_text`: the char is kept.
pub(super) const CLEAN_KEEP: u8 = {CLEAN_KEEP};
/// `clean_text` removes the char (NUL, U+FFFD, categories Cc Cf Cn Co Cs except tab, CR, LF).
pub(super) const CLEAN_DROP: u8 = {CLEAN_DROP};
/// `clean_text` turns the char into a space (whitespace).
pub(super) const CLEAN_SPACE: u8 = {CLEAN_SPACE};
/// Mask of the `clean_text` bits.
pub(super) const CLEAN_MASK: u8 = 0b11;
/// `handle_chinese_chars` pads the char with spaces (a CJK ideograph).
pub(super) const CHINESE: u8 = {CHINESE};
/// Bits 3..5, `BertPreTokenizer`: the char continues a word.
pub(super) const SPLIT_WORD: u8 = {SPLIT_WORD};
/// `BertPreTokenizer` splits on the char and drops it (whitespace).
pub(super) const SPLIT_SPACE: u8 = {SPLIT_SPACE};
/// `BertPreTokenizer` makes the char a word of its own (punctuation).
pub(super) const SPLIT_PUNCT: u8 = {SPLIT_PUNCT};
/// Mask of the `BertPreTokenizer` bits.
pub(super) const SPLIT_MASK: u8 = 0b11 << 3;
/// `strip_accents` removes the char entirely (its NFD is all nonspacing marks).
pub(super) const STRIP_DROP: u8 = {STRIP_DROP};

/// Code point runs of one class, `start << 8 | class`, sorted; a run lasts until the next start.
pub(super) static CLASS_RUNS: [u32; {len(runs)}] = [
{wrap([f"0x{(s << 8) | c:08x}," for s, c in runs], 8)}
];

/// `(key plane, value plane, [(key, value)])`: `strip_accents` maps `key` to one char `value`, both
/// given by their low 16 bits, sorted by key.
pub(super) type StripSegment = (u8, u8, &'static [(u16, u16)]);

/// `strip_accents` results of one char. A char in no segment, not in [`STRIP_MULTI`], not Hangul
/// and not [`STRIP_DROP`] is unchanged.
pub(super) static STRIP_SINGLE: [StripSegment; {len(segments)}] = [
{chr(10).join(seg_src)}
];

/// `strip_accents` results of more than one char, sorted by code point.
pub(super) static STRIP_MULTI: [(u32, &str); {len(strip_multi)}] = [
{wrap([f"(0x{cp:05x}, {rust_str(v)})," for cp, v in sorted(strip_multi.items())], 3)}
];

/// Lowercase runs `(start | (len - 1) << 21 | (stride == 2) << 31, delta)`, sorted: the chars
/// `start + k * stride` for `k < len` lowercase to `char + delta`.
pub(super) static LOWER_RUNS: [(u32, i32); {len(lruns)}] = [
{wrap([f"(0x{s | (n - 1) << 21 | (stride == 2) << 31:08x}, {d})," for s, n, stride, d in lruns], 5)}
];

/// Lowercases of more than one char, sorted by code point.
pub(super) static LOWER_MULTI: [(u32, &str); {len(lower_multi)}] = [
{wrap([f"(0x{cp:05x}, {rust_str(v)})," for cp, v in sorted(lower_multi.items())], 3)}
];
"""
    OUT.write_text(src)
    print(f"wrote {OUT.relative_to(ROOT)}: {total} bytes of tables on a 32-bit target", file=sys.stderr)
    print(
        f"  class runs {len(runs)}, strip single {len(strip_single)} in {len(segments)} segments, "
        f"strip multi {len(strip_multi)}, lower runs {len(lruns)}, lower multi {len(lower_multi)}, "
        f"reorder-sensitive marks {len(reorder)}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
