//! No floating point in the int8 inference path, on any target: `tests/no-float` links
//! `Model::from_bytes` + `Engine::classify` for `thumbv6m-none-eabi` (Cortex-M0, no FPU) with
//! LTO, and its object must not reference a single soft-float routine. The float reference
//! module lives in the same crate, so this also proves it stays out of an engine build.

use convbert_tests::repo_root;
use object::read::archive::ArchiveFile;
use object::{Object, ObjectSymbol};

/// Soft-float helpers: ARM EABI (`__aeabi_fadd`, `__aeabi_d2iz`, `__aeabi_i2f`, ...) and
/// libgcc/compiler-rt (`__addsf3`, `__floatsidf`, `__fixdfsi`, `__extendsfdf2`, ...).
fn is_soft_float(name: &str) -> bool {
    let aeabi = name.strip_prefix("__aeabi_").is_some_and(|rest| {
        rest.starts_with('f') || rest.starts_with('d') || rest.ends_with("2f") || rest.ends_with("2d") || rest.starts_with("h2f")
    });
    let gcc = name.starts_with("__")
        && ["sf2", "sf3", "df2", "df3", "sisf", "sidf", "disf", "didf", "sfsi", "sfdi", "dfsi", "dfdi", "tisf", "tidf"]
            .iter()
            .any(|p| name.contains(p));
    aeabi || gcc
}

#[test]
fn int8_engine_references_no_soft_float_routine() {
    let root = repo_root();
    let target_dir = root.join("target/no-float");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "thumbv6m-none-eabi", "--manifest-path"])
        .arg(root.join("tests/no-float/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the probe failed: is `rustup target add thumbv6m-none-eabi` done?");

    let archive_path = target_dir.join("thumbv6m-none-eabi/release/libconvbert_no_float_probe.a");
    let bytes = std::fs::read(&archive_path).unwrap();
    let archive = ArchiveFile::parse(&*bytes).unwrap();
    let (mut ours, mut builtins_define_soft_float) = (Vec::new(), false);
    for member in archive.members() {
        let member = member.unwrap();
        let name = String::from_utf8_lossy(member.name()).into_owned();
        let file = object::File::parse(member.data(&*bytes).unwrap()).unwrap();
        if name.starts_with("convbert_no_float_probe") {
            ours.extend(file.symbols().filter(|s| s.is_undefined()).map(|s| s.name().unwrap().to_owned()));
        } else if file.symbols().any(|s| s.is_definition() && s.name() == Ok("__aeabi_fadd")) {
            builtins_define_soft_float = true;
        }
    }
    // The check can see soft-float symbols: compiler_builtins, in the same archive, defines them.
    assert!(builtins_define_soft_float && is_soft_float("__aeabi_fadd") && is_soft_float("__floatsisf"));
    assert!(!ours.is_empty(), "the probe's object was not found in {}", archive_path.display());
    let float: Vec<&String> = ours.iter().filter(|s| is_soft_float(s)).collect();
    println!("int8 engine on thumbv6m references {} external routines: {}", ours.len(), ours.join(" "));
    assert!(float.is_empty(), "the int8 engine references soft-float routines: {float:?}");
}
