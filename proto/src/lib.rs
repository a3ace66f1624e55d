//! Wire messages between Trawl's processes.
//!
//! The `.proto` files under `protos/` are the only contract between the coordinator and the
//! workers: [`v1::ClassifyTask`] travels on RabbitMQ, [`v1::ObjectResult`] on the job's Redis
//! stream. The types are generated at build time by prost with a vendored `protoc`.
#![warn(missing_docs)]

/// Version 1 of the wire messages.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/trawl.v1.rs"));
}

pub use prost::Message;

#[cfg(test)]
mod tests {
    use super::v1::ClassifyTask;
    use prost::Message;

    #[test]
    fn task_round_trips_through_bytes() {
        let task = ClassifyTask {
            job_id: "job-1".into(),
            seq: 42,
            account_id: "111122223333".into(),
            bucket: "b".into(),
            key: "a/b.txt".into(),
            size: 1234,
            ..Default::default()
        };
        let bytes = task.encode_to_vec();
        let back = ClassifyTask::decode(bytes.as_slice())
            .expect("decoding what we encoded should not fail");
        assert_eq!(back, task);
        assert!(ClassifyTask::decode(&b"\xff\xff\xff"[..]).is_err());
    }
}
