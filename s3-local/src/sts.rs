//! STS (query protocol, `POST /` with a form body): AssumeRole and GetCallerIdentity.
//!
//! AssumeRole into `arn:aws:iam::<account>:role/<name>` works for any role of a known account
//! (one registered with [`crate::LocalS3::add_account`] or owning a bucket), checks the
//! external ID when [`crate::LocalS3::require_external_id`] set one, and issues `ASIA…`
//! session credentials that act in that account until they expire.

use std::time::{Duration, SystemTime};

use hyper::StatusCode;

use crate::LocalS3;
use crate::server::{
    AuthFailure, AwsError, HttpResponse, RequestContext, authenticate, form_value, xml_response,
};
use crate::state::{BASE64ISH, Credential, Principal, PrincipalKind, UPPER_ALNUM, random_string};
use crate::xml::{STS_NS, XmlWriter, iso8601};

/// Default and bounds of `DurationSeconds`.
const DEFAULT_DURATION_SECS: u64 = 3600;
const MIN_DURATION_SECS: u64 = 900;
const MAX_DURATION_SECS: u64 = 43_200;

/// Handles an STS action.
pub(crate) fn handle(local: &LocalS3, request: &RequestContext, action: &str) -> HttpResponse {
    let result = match action {
        "AssumeRole" => assume_role(local, request),
        "GetCallerIdentity" => get_caller_identity(local, request),
        other => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {other} for version 2011-06-15"),
        )),
    };
    result.unwrap_or_else(|error| error.into_sts(request))
}

fn caller(local: &LocalS3, request: &RequestContext) -> Result<Principal, AwsError> {
    let state = local.read();
    authenticate(&state, request).map_err(|failure| match failure {
        AuthFailure::Anonymous => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ),
        AuthFailure::UnknownAccessKey | AuthFailure::InvalidToken => AwsError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        AuthFailure::ExpiredToken => AwsError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
    })
}

fn validation_error(message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

/// Splits `arn:aws:iam::<12 digits>:role/[path/]name` into (account, role name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_and_name = resource.strip_prefix("role/")?;
    let name = path_and_name.rsplit('/').next()?;
    let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (valid_account && !name.is_empty()).then_some((account, name))
}

fn is_valid_session_name(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

fn assume_role(local: &LocalS3, request: &RequestContext) -> Result<HttpResponse, AwsError> {
    let caller = caller(local, request)?;
    let field = |name: &str| form_value(&request.body, name);
    let role_arn = field("RoleArn").ok_or_else(|| {
        validation_error("1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
    })?;
    let session_name = field("RoleSessionName").ok_or_else(|| {
        validation_error("1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
    })?;
    if !is_valid_session_name(&session_name) {
        return Err(validation_error(format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration_secs = match field("DurationSeconds") {
        None => DEFAULT_DURATION_SECS,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|secs| (MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(secs))
            .ok_or_else(|| {
                validation_error(format!(
                    "1 validation error detected: Value '{text}' at 'durationSeconds' failed to \
                     satisfy constraint: Member must have value between 900 and 43200"
                ))
            })?,
    };
    let (account_id, role_name) = parse_role_arn(&role_arn)
        .ok_or_else(|| validation_error(format!("{role_arn} is invalid")))?;
    let denied = || {
        AwsError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn()
            ),
        )
    };

    let mut state = local.write();
    if !state.accounts.contains_key(account_id) {
        return Err(denied());
    }
    if let Some(required) = state.external_ids.get(&role_arn)
        && field("ExternalId").as_deref() != Some(required.as_str())
    {
        return Err(denied());
    }
    let access_key_id = format!("ASIA{}", random_string(UPPER_ALNUM, 16));
    let secret_access_key = random_string(BASE64ISH, 40);
    let session_token = format!("FQoGZXIvYXdzE{}", random_string(BASE64ISH, 180));
    let expires_at = crate::now_secs() + Duration::from_secs(duration_secs);
    // Stable per role, like AWS's role IDs.
    let role_id = format!(
        "AROA{}",
        crate::md5_hex(role_arn.as_bytes())[..17].to_ascii_uppercase()
    );
    let principal = Principal {
        account_id: account_id.to_string(),
        kind: PrincipalKind::Session {
            role_name: role_name.to_string(),
            session_name: session_name.clone(),
            session_token: session_token.clone(),
            expires_at,
            role_id,
        },
    };
    // Expired sessions are pruned here so long-running servers do not grow without bound.
    let now = SystemTime::now();
    state
        .credentials
        .retain(|_, credential| match &credential.principal.kind {
            PrincipalKind::Session { expires_at, .. } => *expires_at > now,
            PrincipalKind::Root => true,
        });
    state.credentials.insert(
        access_key_id.clone(),
        Credential {
            secret_access_key: secret_access_key.clone(),
            principal: principal.clone(),
        },
    );
    drop(state);

    let mut xml = XmlWriter::new("AssumeRoleResponse", Some(STS_NS));
    xml.open("AssumeRoleResult")
        .open("AssumedRoleUser")
        .text("AssumedRoleId", principal.user_id())
        .text("Arn", principal.arn())
        .close("AssumedRoleUser")
        .open("Credentials")
        .text("AccessKeyId", &access_key_id)
        .text("SecretAccessKey", &secret_access_key)
        .text("SessionToken", &session_token)
        .text("Expiration", iso8601(expires_at))
        .close("Credentials")
        .close("AssumeRoleResult")
        .open("ResponseMetadata")
        .text("RequestId", &request.request_id)
        .close("ResponseMetadata");
    Ok(xml_response(
        StatusCode::OK,
        xml.finish("AssumeRoleResponse"),
    ))
}

fn get_caller_identity(
    local: &LocalS3,
    request: &RequestContext,
) -> Result<HttpResponse, AwsError> {
    let caller = caller(local, request)?;
    let mut xml = XmlWriter::new("GetCallerIdentityResponse", Some(STS_NS));
    xml.open("GetCallerIdentityResult")
        .text("Arn", caller.arn())
        .text("UserId", caller.user_id())
        .text("Account", &caller.account_id)
        .close("GetCallerIdentityResult")
        .open("ResponseMetadata")
        .text("RequestId", &request.request_id)
        .close("ResponseMetadata");
    Ok(xml_response(
        StatusCode::OK,
        xml.finish("GetCallerIdentityResponse"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_parse() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::222222222222:role/TrawlClassificationRole"),
            Some(("222222222222", "TrawlClassificationRole"))
        );
        assert_eq!(
            parse_role_arn("arn:aws:iam::222222222222:role/service/Reader"),
            Some(("222222222222", "Reader"))
        );
        assert_eq!(parse_role_arn("arn:aws:iam::2222:role/x"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::222222222222:user/x"), None);
        assert_eq!(parse_role_arn("arn:aws:iam::222222222222:role/"), None);
    }

    #[test]
    fn session_names_follow_sts_rules() {
        assert!(is_valid_session_name("trawl"));
        assert!(is_valid_session_name("a.b@c-d_e+f=g,h"));
        assert!(!is_valid_session_name("x"));
        assert!(!is_valid_session_name("has space"));
    }
}
