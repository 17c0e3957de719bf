//! The fuzz targets' committed blob seeds through the whole engine, on the device: the fuzzers
//! only ever run the host's kernels, and these blobs (E below, equal to and above H, grouped
//! FFNs, a 9-tap kernel, no labels, a real quantized checkpoint) reach shapes and scales the
//! conformance model does not.
//!
//! `build/fuzz_seeds.rs` turns each seed into the blob its target parses and records what the
//! host engine makes of it. The host is bit-identical to every board (the conformance suite),
//! so a board must refuse the same blobs with the same kind of error and give the same label,
//! score, token count, truncation and logits for every text, and the same hidden states
//! ([`hidden_hash`]): a difference is a kernel bug.
//! Each parsed blob is also damaged (one byte in each tensor, resealed) and must still give
//! in-range results or a typed error.
//!
//! The data (about 55 KB: six distinct blobs from 13 seeds) is left out where `Native` is
//! `Generic` (ARMv6-M and ARMv7-M: lm3s6965, microbit), as the `native_*` kernel checks are:
//! those boards have no flash to spare, and their kernels are the portable reference itself.

use crate::blobs::{reseal, Aligned};
use crate::hidden_hash::hidden_hash;
use crate::kernels::native_is_generic;
use crate::{ensure, Failure, Outcome};
use convbert::int8::{arena_bytes, Classification, ClassifyError, Engine, Model};
use core::fmt::{Debug, Write};

/// A classification as the host computed it.
pub struct Class {
    /// Index of the best label.
    pub label: usize,
    /// Its Q15 probability.
    pub score_q15: u16,
    /// Tokens of the encoding.
    pub tokens: usize,
    /// Whether the text was cut to `max_len`.
    pub truncated: bool,
    /// Every logit.
    pub logits: &'static [i32],
}

/// What the host engine made of one text.
pub struct Run {
    /// `classify`, errors as their `Debug` text.
    pub result: Result<Class, &'static str>,
    /// [`hidden_hash`] of the text.
    pub hidden: u32,
}

/// What the host engine made of a blob.
pub enum Host {
    /// `Model::from_bytes` refused it (the error's `Debug` text).
    Refused(&'static str),
    /// It parsed, but its arena is above [`ARENA`]: only parsed here.
    Parsed,
    /// It parsed and ran each of [`TEXTS`] so.
    Classified([Run; 4]),
}

/// One distinct blob of the seeds.
pub struct Seed {
    /// The corpus files (`target/file`) that give it.
    pub files: &'static str,
    /// The blob, as the fuzz target hands it to `Model::from_bytes`.
    pub blob: &'static Aligned<[u8]>,
    /// What the host made of it.
    pub host: Host,
    /// The middle byte of each of its tensors, for [`damaged_seeds_stay_in_range`].
    pub flips: &'static [usize],
}

include!(concat!(env!("OUT_DIR"), "/fuzz_seeds.rs"));

/// The variant name that starts an error's `Debug` text: what must agree across targets.
fn kind(debug: &str) -> &str {
    debug.split(['(', ' ', '{']).next().unwrap_or(debug)
}

/// `error`'s [`kind`] is the one in the host's `Debug` text `host`.
fn same_kind(error: &impl Debug, host: &str) -> bool {
    let mut text = heapless::String::<64>::new();
    let _ = write!(text, "{error:?}"); // the variant name comes first; a longer text is cut
    kind(&text) == kind(host)
}

/// Every seed's blob is refused, parsed or classified as on the host, to the last logit.
pub fn seeds_match_the_host() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    ensure!(!SEEDS.is_empty(), "no seeds embedded for a target with kernels of its own");
    let (mut arena, mut ids) = ([0u8; ARENA], [0u32; MAX_LEN]);
    for seed in SEEDS {
        let files = seed.files;
        let (model, results) = match (Model::from_bytes(&seed.blob.0), &seed.host) {
            (Err(e), Host::Refused(host)) if same_kind(&e, host) => continue,
            (Err(e), _) => return Err(Failure::new(format_args!("{files}: refused ({e:?}), not on the host"))),
            (Ok(_), Host::Refused(host)) => return Err(Failure::new(format_args!("{files}: parsed, the host refused it ({host})"))),
            (Ok(_), Host::Parsed) => continue,
            (Ok(model), Host::Classified(results)) => (model, results),
        };
        let need = arena_bytes(&model, model.tokenizer().settings.max_len);
        ensure!(need <= ARENA, "{files}: arena {need} bytes here, at most {ARENA} on the host");
        let Ok(mut engine) = Engine::new(&model, &mut arena[..need]) else {
            return Err(Failure::new(format_args!("{files}: Engine::new refused {need} bytes")));
        };
        for ((text, host), t) in TEXTS.iter().zip(results).zip(0..) {
            match (engine.classify(text), &host.result) {
                (Ok(r), Ok(h)) => ensure!(
                    (r.label, r.score_q15, r.tokens, r.truncated) == (h.label, h.score_q15, h.tokens, h.truncated) && r.logits == h.logits,
                    "{files} text {t}: label {} score {} tokens {} truncated {} logits {:?}; host {} {} {} {} {:?}",
                    r.label, r.score_q15, r.tokens, r.truncated, r.logits, h.label, h.score_q15, h.tokens, h.truncated, h.logits
                ),
                (Err(e), Err(h)) => ensure!(same_kind(&e, h), "{files} text {t}: {e:?}, host {h}"),
                (r, h) => ensure!(false, "{files} text {t}: {:?} here, host {:?}", r.map(|r| r.label), h.as_ref().map(|h| h.label)),
            }
            let hidden = hidden_hash(&mut engine, text, &mut ids);
            ensure!(hidden == host.hidden, "{files} text {t}: hidden states hash {hidden:#010x}, host {:#010x}", host.hidden);
        }
    }
    Ok(())
}

/// One byte in the middle of each tensor of each classified seed flipped, the blob resealed:
/// whatever still parses and fits [`ARENA`] must classify every text in range or refuse it with
/// a typed error, and never panic.
pub fn damaged_seeds_stay_in_range() -> Outcome {
    if native_is_generic() {
        return Ok(());
    }
    let (mut copy, mut arena) = (Aligned([0u8; MAX_BLOB_LEN]), [0u8; ARENA]);
    let mut classified = 0;
    for seed in SEEDS.iter().filter(|s| matches!(s.host, Host::Classified(_))) {
        let blob = &mut copy.0[..seed.blob.0.len()];
        blob.copy_from_slice(&seed.blob.0);
        for &at in seed.flips {
            blob[at] ^= 0xff;
            reseal(blob);
            if let Ok(model) = Model::from_bytes(blob) {
                let need = arena_bytes(&model, model.tokenizer().settings.max_len);
                if let Some(Ok(mut engine)) = arena.get_mut(..need).map(|a| Engine::new(&model, a)) {
                    classified += 1;
                    for text in TEXTS {
                        in_range(&model, &engine.classify(text)).map_err(|why| {
                            Failure::new(format_args!("{} byte {at} flipped, {text:?}: {why}", seed.files))
                        })?;
                    }
                }
            }
            blob[at] ^= 0xff;
        }
    }
    ensure!(classified > 0, "no damaged seed parsed: the test checks nothing");
    Ok(())
}

/// Label and score in range, at most `max_len` tokens; any error but a panic is fine.
fn in_range(model: &Model<'_>, result: &Result<Classification<'_>, ClassifyError>) -> Result<(), &'static str> {
    let Ok(r) = result else { return Ok(()) };
    let max_len = model.tokenizer().settings.max_len;
    match () {
        _ if r.label >= model.config().num_labels => Err("label out of range"),
        _ if r.score_q15 > 32768 => Err("score above 1.0"),
        _ if r.tokens > max_len => Err("more tokens than max_len"),
        _ => Ok(()),
    }
}
