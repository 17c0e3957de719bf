//! Model updates over the UART without reflashing (`firmware/app/src/update.rs`): the
//! `update` program on a QEMU Cortex-M board starts with its built-in snips-tiny, refuses a
//! too-large, a truncated, a corrupted and a wrong-version blob (after each the old model still
//! answers, exactly as the host engine does), then takes clinc-tiny and answers with it.
//!
//! QEMU's UART moves about 8 KB a second (one byte per event-loop turn; a real one at 115200
//! baud moves 11.5): the 1.1 MB of clinc-tiny take about two minutes, so the bad blobs are cut
//! from a 5 KB model (the fuzz corpus's valid seed), not from clinc-tiny.

use convbert::int8::crc32;
use convbert_tests::{build_firmware, demo_answer_start, repo_root, spawn_qemu};
use convbert_uart::{Console, Update};
use std::io::BufReader;

const BOARD: &str = "mps2-an386";

/// `blob` with its version field set to `version` and its CRC made right again: a well-formed
/// blob of another format version.
fn with_version(blob: &[u8], version: u32) -> Vec<u8> {
    let mut other = blob.to_vec();
    other[4..8].copy_from_slice(&version.to_le_bytes());
    let body = other.len() - 4;
    let crc = crc32(&other[..body]);
    other[body..].copy_from_slice(&crc.to_le_bytes());
    other
}

/// QEMU, stopped when the test ends, also when it fails.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_blobs_are_refused_and_a_good_one_is_taken() {
    let read = |name: &str| std::fs::read(repo_root().join("weights").join(name)).unwrap();
    let (snips, clinc, too_big) = (read("snips-tiny.cbq"), read("clinc-tiny.cbq"), read("snips-small.cbq"));
    let elf = build_firmware(BOARD, "update", &[("CONVBERT_BLOB", &repo_root().join("weights/snips-tiny.cbq"))]).unwrap_or_else(|e| panic!("{e}"));
    let mut qemu = StopOnDrop(spawn_qemu(BOARD, &elf).unwrap());
    let (stdin, stdout) = (qemu.0.stdin.take().unwrap(), qemu.0.stdout.take().unwrap());
    let mut board = Console::new(BufReader::new(stdout), stdin);
    board.line_starting("ready").unwrap();

    let snips_text = "play some jazz by miles davis";
    let old_answers = |board: &mut Console<_, _>, case: &str| {
        let answer = board.ask(snips_text).unwrap();
        assert!(answer.starts_with(&demo_answer_start(&snips, snips_text)), "after the {case} blob: `{answer}`");
    };
    old_answers(&mut board, "built-in");

    let small = std::fs::read(repo_root().join("tests/fuzz/corpus/blob_raw/tiny-quantized.cbq")).unwrap();
    let mut corrupted = small.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x40;
    let bad: [(&str, Vec<u8>, &str); 4] = [
        ("too large", too_big, "no room for the blob"),
        ("truncated", small[..small.len() / 2].to_vec(), "not a valid model"),
        ("corrupted", corrupted, "not a valid model: blob corrupted"),
        ("wrong-version", with_version(&small, 3), "not a valid model: blob format version 3"),
    ];
    for (case, blob, why) in bad {
        match board.update(&blob).unwrap() {
            Update::Refused(reason) => {
                assert!(reason.starts_with(why), "{case}: refused for `{reason}`, expected `{why}...`");
                println!("{case} blob ({} bytes): refused: {reason}", blob.len());
            }
            Update::Taken(how) => panic!("{case} blob was taken: {how}"),
        }
        old_answers(&mut board, case);
    }

    match board.update(&clinc).unwrap() {
        Update::Taken(how) => println!("clinc-tiny ({} bytes): taken: {how}", clinc.len()),
        Update::Refused(why) => panic!("clinc-tiny refused: {why}"),
    }
    for text in ["what is my bank balance", "set an alarm for six am", "how do you say thank you in french"] {
        let answer = board.ask(text).unwrap();
        assert!(answer.starts_with(&demo_answer_start(&clinc, text)), "clinc-tiny on the board said `{answer}`");
        println!("{answer}");
    }
    board.send(b"\x04").unwrap();
    let status = qemu.0.wait().unwrap();
    assert!(status.success(), "the update program ended with {status}");
}
