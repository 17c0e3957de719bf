//! Host latency of one classification at 16, 32 and 64 tokens: int8 engine vs f32 reference.
//! `cargo bench --manifest-path tools/bench/Cargo.toml` (results in target/criterion).

use convbert::int8::{arena_bytes, Engine, Model};
use convbert_bench::{ids, load};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

fn latency(c: &mut Criterion) {
    for name in ["snips-tiny", "snips-small"] {
        if !convbert_bench::repo().join("weights").join(name).join("model.safetensors").exists() {
            continue;
        }
        let bench = load(name);
        let model = Model::from_bytes(bench.blob.bytes()).unwrap();
        let max_len = model.tokenizer().settings.max_len;
        let mut arena = vec![0u8; arena_bytes(&model, max_len)];
        let mut engine = Engine::new(&model, &mut arena).unwrap();
        let layers = bench.checkpoint.float_layers().unwrap();
        let float = bench.checkpoint.float_model(&layers).unwrap();
        let mut scratch = vec![0.0; float.scratch_len(max_len)];
        let mut logits = vec![0.0; bench.checkpoint.labels.len()];

        let mut group = c.benchmark_group(name);
        for len in [16, 32, 64].into_iter().filter(|&l| l <= max_len) {
            let input = ids(len);
            group.bench_with_input(BenchmarkId::new("int8", len), &input, |b, input| {
                b.iter(|| black_box(engine.classify_ids(black_box(input)).unwrap().label))
            });
            group.bench_with_input(BenchmarkId::new("f32", len), &input, |b, input| {
                b.iter(|| float.classify(black_box(input), None, &mut scratch, &mut logits).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, latency);
criterion_main!(benches);
