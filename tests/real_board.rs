//! The real-board image under QEMU: `firmware/build.sh netduinoplus2 demo` builds the demo
//! exactly as `cargo run --release` in `firmware/netduinoplus2` does (the ELF that probe-rs
//! flashes onto a Netduino Plus 2), QEMU's `netduinoplus2` machine (STM32F405) boots it, the
//! utterances go in over its USART1, and every answer must be the host engine's on the same
//! blob: label and score.

use convbert_tests::{build_firmware, dataset, demo_answer_start, repo_root, run_in_qemu_with, QemuSession};
use object::{Object, ObjectSection};

const BOARD: &str = "netduinoplus2";
/// The board crate's default model (its `.cargo/config.toml`): snips-tiny with the vocabulary
/// cut to fit the 1 MiB flash (weights/README.md).
const BLOB: &str = "weights/snips-tiny-f405.cbq";
/// SNIPS test utterances sent to the board.
const UTTERANCES: usize = 25;

#[test]
fn the_flashed_image_classifies_like_the_host_in_qemu() {
    let elf = build_firmware(BOARD, "demo", &[]).unwrap_or_else(|e| panic!("{e}"));
    let blob = std::fs::read(repo_root().join(BLOB)).unwrap();

    // The image carries exactly that blob.
    let image = std::fs::read(&elf).unwrap();
    let image = object::File::parse(&*image).unwrap();
    let section = image.section_by_name(".blob").expect("a .blob section");
    let linked = section.data().unwrap();
    // (The section may end in alignment padding.)
    assert!(linked.len() >= blob.len() && linked[..blob.len()] == blob[..], "{BOARD}: the image's blob is not {BLOB}");

    let tests = std::fs::read_to_string(dataset("snips/test.tsv")).unwrap();
    let texts: Vec<&str> = tests.lines().filter_map(|l| l.split_once('\t')).map(|(_, t)| t).take(UTTERANCES).collect();
    let mut input: Vec<u8> = texts.iter().flat_map(|t| format!("{t}\n").into_bytes()).collect();
    input.push(0x04); // EOT ends the demo

    let session = QemuSession { input: &input, input_after: Some("ready"), last_line: Some("exit "), silence_s: 300 };
    let output = run_in_qemu_with(BOARD, &elf, &session).unwrap_or_else(|e| panic!("{e}"));
    let answers: Vec<&str> = output.lines().filter(|l| l.ends_with('"')).collect();
    assert_eq!(answers.len(), texts.len(), "{BOARD}: one answer per utterance; output:\n{output}");
    assert!(output.lines().any(|l| l == "exit 0"), "{BOARD}: the demo did not end cleanly:\n{output}");

    for (text, answer) in texts.iter().zip(&answers) {
        let want = demo_answer_start(&blob, text);
        assert!(answer.starts_with(&want), "{BOARD}: \"{text}\": board said `{answer}`, host `{want}...`");
        assert!(answer.ends_with(&format!("\"{text}\"")), "{BOARD}: answer `{answer}` is not for \"{text}\"");
    }
    println!("{BOARD}: {} utterances, every answer the host's", texts.len());
}
