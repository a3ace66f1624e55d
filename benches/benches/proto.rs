//! Encoding and decoding of the task message that crosses RabbitMQ for every object.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trawl_proto::Message;
use trawl_proto::v1::ClassifyTask;

fn task(seq: u64) -> ClassifyTask {
    ClassifyTask {
        job_id: "j-mx7tvjor-unloaq".into(),
        seq,
        account_id: "222222222222".into(),
        role_arn: "arn:aws:iam::222222222222:role/TrawlClassificationRole".into(),
        external_id: "trawl-external-id".into(),
        bucket: "payroll-exports-eu".into(),
        key: format!("2025/12/exports/part-{seq:08}.csv.gz"),
        size: 1_234_567,
        etag: "\"9b2cf535f27731c974343645a3985328\"".into(),
        storage_class: "STANDARD".into(),
        last_modified_ms: 1_764_000_000_000,
        region: "eu-west-1".into(),
        replayed: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("trawl_proto::v1::ClassifyTask");
    group.throughput(Throughput::Elements(1));
    let sample = task(42);
    let encoded = sample.encode_to_vec();
    group.bench_function("encode", |b| b.iter(|| black_box(&sample).encode_to_vec()));
    group.bench_function("decode", |b| {
        b.iter(|| {
            ClassifyTask::decode(black_box(encoded.as_slice())).expect("decoding should not fail")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
