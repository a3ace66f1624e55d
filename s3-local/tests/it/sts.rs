//! STS through the SDK: AssumeRole into a member account, external IDs, GetCallerIdentity,
//! and the aws-config AssumeRoleProvider Trawl uses.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::support::{
    EXTERNAL_ID, Fixture, MASTER, MASTER_KEY, MASTER_SECRET, MEMBER, MEMBER_ROLE, code,
};

#[tokio::test]
async fn assume_role_acts_in_the_member_account() {
    let fixture = Fixture::start().await;
    fixture.local.create_bucket(MASTER, "master-only").unwrap();
    let assumed = fixture
        .sts_master()
        .assume_role()
        .role_arn(MEMBER_ROLE)
        .role_session_name("trawl")
        .external_id(EXTERNAL_ID)
        .send()
        .await
        .expect("AssumeRole should succeed");
    let credentials = assumed.credentials().unwrap();
    assert!(credentials.access_key_id().starts_with("ASIA"));
    assert_eq!(credentials.access_key_id().len(), 20);
    assert!(!credentials.secret_access_key().is_empty());
    assert!(!credentials.session_token().is_empty());
    let expires = SystemTime::try_from(*credentials.expiration()).unwrap();
    let ahead = expires.duration_since(SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(3500) && ahead <= Duration::from_secs(3600),
        "{ahead:?}"
    );
    let user = assumed.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::222222222222:assumed-role/TrawlClassificationRole/trawl"
    );
    assert!(
        user.assumed_role_id().starts_with("AROA") && user.assumed_role_id().ends_with(":trawl")
    );

    let member = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_string()),
        None,
        "assumed",
    );
    let s3 = fixture.s3_with(member.clone());
    let buckets = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["member-logs"]);
    s3.put_object()
        .bucket("member-logs")
        .key("app.log")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .expect("the member session writes its own bucket");
    assert_eq!(
        code(s3.list_objects_v2().bucket("master-only").send().await),
        "AccessDenied"
    );

    let identity = fixture
        .sts_with(member)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.account(), Some(MEMBER));
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::222222222222:assumed-role/TrawlClassificationRole/trawl")
    );

    // The same keys without their session token are rejected.
    let tokenless = fixture.s3_with(Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        None,
        None,
        "tokenless",
    ));
    assert_eq!(code(tokenless.list_buckets().send().await), "InvalidToken");
}

#[tokio::test]
async fn get_caller_identity_per_credentials() {
    let fixture = Fixture::start().await;
    let identity = fixture
        .sts_master()
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.account(), Some(MASTER));
    assert_eq!(identity.arn(), Some("arn:aws:iam::111111111111:root"));
    assert_eq!(identity.user_id(), Some(MASTER));

    let stranger = fixture.sts_with(Credentials::new("AKIANOBODY", "x", None, None, "t"));
    assert_eq!(
        code(stranger.get_caller_identity().send().await),
        "InvalidClientTokenId"
    );
}

#[tokio::test]
async fn assume_role_checks_external_id_account_and_arn() {
    let fixture = Fixture::start().await;
    let sts = fixture.sts_master();
    let assume = |role: &'static str, external_id: Option<&'static str>| {
        let mut request = sts.assume_role().role_arn(role).role_session_name("trawl");
        if let Some(id) = external_id {
            request = request.external_id(id);
        }
        request.send()
    };
    assert_eq!(
        code(assume(MEMBER_ROLE, Some("wrong")).await),
        "AccessDenied"
    );
    assert_eq!(code(assume(MEMBER_ROLE, None).await), "AccessDenied");
    assert_eq!(
        code(assume("arn:aws:iam::333333333333:role/Unknown", None).await),
        "AccessDenied"
    );
    assert_eq!(code(assume("not-an-arn", None).await), "ValidationError");
    // A role without a required external ID is assumable by any known account's caller.
    assume("arn:aws:iam::111111111111:role/Reader", None)
        .await
        .expect("a role with no external ID requirement");
}

#[tokio::test]
async fn aws_config_assume_role_provider_works_as_trawl_uses_it() {
    let fixture = Fixture::start().await;
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&fixture.url)
        .credentials_provider(Credentials::new(
            MASTER_KEY,
            MASTER_SECRET,
            None,
            None,
            "static",
        ))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(MEMBER_ROLE)
        .session_name("trawl")
        .external_id(EXTERNAL_ID)
        .configure(&base)
        .build()
        .await;
    let config = aws_sdk_s3::config::Builder::from(&base)
        .force_path_style(true)
        .credentials_provider(provider)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let buckets = s3
        .list_buckets()
        .send()
        .await
        .expect("the provider assumes the role");
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["member-logs"]);
}
