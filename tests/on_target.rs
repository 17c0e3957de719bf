//! The on-target unit tests (`tests/on-target`): the kernels, numerics and tokenizer tests run
//! here on the host, and through `firmware/`'s `unit-tests` program on every QEMU board, where
//! each must pass too. Needs QEMU and the boards' Rust targets, like `conformance.rs`.

use convbert_on_target::{run_all, Summary, TESTS};
use convbert_tests::repo_root;
use std::process::Command;
use std::sync::Mutex;

/// Every board of `firmware/build.sh`.
const BOARDS: &[&str] =
    &["mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "lm3s6965", "microbit", "virt-a53", "virt-a76"];

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
    let firmware = repo_root().join("firmware");
    let build = Command::new("bash").arg(firmware.join("build.sh")).args([board, "unit-tests"]).output().map_err(|e| e.to_string())?;
    if !build.status.success() {
        return Err(format!("build failed:\n{}", String::from_utf8_lossy(&build.stderr)));
    }
    let elf = String::from_utf8_lossy(&build.stdout).trim().to_owned();
    let qemu = Command::new("bash")
        .arg(firmware.join("qemu-run.sh"))
        .args([board, &elf])
        .env("QEMU_TIMEOUT", "300")
        .output()
        .map_err(|e| e.to_string())?;
    let output = String::from_utf8_lossy(&qemu.stdout).into_owned();
    if !qemu.status.success() {
        return Err(format!("QEMU exited with {:?}:\n{output}{}", qemu.status.code(), String::from_utf8_lossy(&qemu.stderr)));
    }
    Ok(output)
}

#[test]
fn every_unit_test_passes_on_every_qemu_board() {
    let queue = Mutex::new(BOARDS.iter());
    let results = Mutex::new(Vec::new());
    // Two workers: QEMU is single-threaded and the machine has two cores.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(&board) = queue.lock().unwrap().next() else { break };
                let result = run_on(board);
                results.lock().unwrap().push((board, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(board, _)| BOARDS.iter().position(|b| b == board));
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
