//! Chooses the engine's kernels (`cfg(convbert_kernels)`, see `src/int8/kernels/mod.rs`) from
//! the target and `-C target-cpu`: stable Rust exposes no `target_feature` cfg for the Arm DSP
//! extension or Helium, so the choice is made here from what the build says about the core.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(convbert_kernels, values(\"generic\", \"dsp\", \"mve\", \"x86\", \"neon\"))");
    println!("cargo::rustc-check-cfg=cfg(convbert_few_registers)");
    println!("cargo::rerun-if-env-changed=CONVBERT_KERNELS");
    let target = env::var("TARGET").unwrap_or_default();
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags: Vec<&str> = flags.split('\x1f').collect();
    // `-C target-cpu=X` arrives as one flag (`-Ctarget-cpu=X`) or two (`-C`, `target-cpu=X`).
    let setting = |key: &str| {
        flags.iter().rev().find_map(|f| f.trim_start_matches("-C").strip_prefix(key).map(str::to_owned))
    };
    let cpu = setting("target-cpu=").unwrap_or_default();
    let features = setting("target-feature=").unwrap_or_default();
    // What rustc enables for the target, `-C target-cpu` and `-C target-feature` together.
    let target_features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let has = |feature: &str| features.split(',').any(|f| f == format!("+{feature}"));

    let mve = has("mve") || matches!(cpu.as_str(), "cortex-m55" | "cortex-m85");
    // ARMv7E-M is ARMv7-M with the DSP extension; on ARMv8-M Mainline it is optional.
    let dsp = has("dsp") || target.starts_with("thumbv7em") || matches!(cpu.as_str(), "cortex-m33" | "cortex-m35p");
    let kernels = match env::var("CONVBERT_KERNELS").ok().as_deref() {
        Some("generic") => "generic",
        _ if target.starts_with("thumb") && mve => "mve",
        _ if target.starts_with("thumb") && dsp => "dsp",
        // x86-64 chooses its vector code at run time (`src/int8/kernels/x86.rs`).
        _ if target.starts_with("x86_64") => "x86",
        // AArch64 has `cfg(target_feature)` for NEON (absent on the `-softfloat` targets) and the
        // dot product: the kernels read the latter themselves.
        _ if target.starts_with("aarch64") && target_features.split(',').any(|f| f == "neon") => "neon",
        _ => "generic",
    };
    println!("cargo::rustc-cfg=convbert_kernels=\"{kernels}\"");
    // ARMv6-M (Cortex-M0/M0+) has 8 low registers: the portable two-token loop spills there,
    // so its portable kernel runs one token at a time.
    if target.starts_with("thumbv6m") {
        println!("cargo::rustc-cfg=convbert_few_registers");
    }
}
