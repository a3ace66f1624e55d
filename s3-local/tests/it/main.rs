//! Drives the real `aws-sdk-s3` and `aws-sdk-sts` clients against a served `LocalS3`.

mod kms;
mod s3;
mod s3_errors;
mod sts;
mod support;
