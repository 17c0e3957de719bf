//! The on-target unit tests (`tests/on-target`): the kernels, numerics and tokenizer tests run
//! here on the host, and through `firmware/`'s `unit-tests` program on every QEMU board, where
//! each must pass too. Needs QEMU and the boards' Rust targets, like `conformance.rs`.

use convbert_on_target::{run_all, Summary, TESTS};
use convbert_tests::{build_firmware, on_two_workers, run_in_qemu};

/// Every board of the registry (`firmware/boards.txt`) that QEMU emulates and that builds the
/// unit-test program.
fn boards() -> Vec<String> {
    fw_build::registry::boards().into_iter().filter(|b| b.qemu.is_some() && b.has("unit-tests")).map(|b| b.name).collect()
}

#[test]
fn every_unit_test_passes_on_the_host() {
    let mut failures = Vec::new();
    let summary = run_all(|name, outcome| {
        if let Err(failure) = outcome {
            failures.push(format!("{name}: {failure}"));
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(summary, Summary { passed: TESTS.len(), failed: 0 });
}

/// Builds the board's `unit-tests` program, runs it under QEMU, returns its output.
fn run_on(board: &str) -> Result<String, String> {
    run_in_qemu(board, &build_firmware(board, "unit-tests", &[])?, 300)
}

#[test]
fn every_unit_test_passes_on_every_qemu_board() {
    let results = on_two_workers(boards(), |board| {
        let result = run_on(&board);
        (board, result)
    });
    let want = format!("unit-tests: {} passed, 0 failed", TESTS.len());
    println!("| board | unit tests | result |");
    println!("|---|---|---|");
    let mut problems = Vec::new();
    for (board, result) in results {
        let ok = result.as_ref().is_ok_and(|output| output.lines().any(|l| l == want));
        println!("| {board} | {} | {} |", TESTS.len(), if ok { "all ok" } else { "FAILURES" });
        if !ok {
            problems.push(format!("{board}: {}", result.unwrap_or_else(|e| e)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
