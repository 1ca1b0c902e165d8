//! Opaque identifiers: a type prefix and a ULID, for example
//! `ws_01HZX3J4Q8W6E5R7T9Y2U4I6O8`.
//!
//! The prefix makes an id's kind visible in logs and stops one kind being
//! passed where another is expected; the ULID sorts by creation time, which
//! is what cursor pagination orders by.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// Why a string is not a valid identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a {kind} id of the form `{prefix}_` followed by a 26-character ULID")]
pub struct IdError {
    /// The kind of id that was expected, for example `workspace`.
    pub kind: &'static str,
    /// The prefix that id kind carries, for example `ws`.
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix every id of this kind starts with (without the `_`).
            pub const PREFIX: &'static str = $prefix;
            /// The human name of this kind of id, used in error messages.
            pub const KIND: &'static str = $kind;

            /// A new, unique id.
            pub fn generate() -> Self {
                Self(Ulid::new())
            }

            /// Wraps a ULID, for example one read from an API key token.
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(ulid)
            }

            /// The ULID part of the id.
            pub fn ulid(&self) -> Ulid {
                self.0
            }

            /// Parses `prefix_ULID`; anything else is an [`IdError`].
            pub fn parse(input: &str) -> Result<Self, IdError> {
                let error = IdError { kind: $kind, prefix: $prefix };
                let rest = input
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or_else(|| error.clone())?;
                if rest.len() != 26 {
                    return Err(error);
                }
                // Only the canonical spelling: the ulid crate also reads
                // lower case, and a first character above `7` (which
                // overflows 128 bits and loses them), so that two texts
                // would name one id.
                let ulid = Ulid::from_string(rest).map_err(|_| error.clone())?;
                let mut canonical = [0; ulid::ULID_LEN];
                if *ulid.array_to_str(&mut canonical) != *rest {
                    return Err(error);
                }
                Ok(Self(ulid))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}_{}", $prefix, self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, formatter)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(input: &str) -> Result<Self, IdError> {
                Self::parse(input)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// Identifies a tenant. Prefix `ten`.
    TenantId,
    "ten",
    "tenant"
);
prefixed_id!(
    /// Identifies a workspace. Prefix `ws`.
    WorkspaceId,
    "ws",
    "workspace"
);
prefixed_id!(
    /// Identifies a user. Prefix `usr`.
    UserId,
    "usr",
    "user"
);
prefixed_id!(
    /// Identifies an API key. Prefix `key`.
    ApiKeyId,
    "key",
    "api key"
);
prefixed_id!(
    /// Identifies a group of users. Prefix `grp`.
    GroupId,
    "grp",
    "group"
);
prefixed_id!(
    /// Identifies an invitation to a tenant. Prefix `inv`.
    InvitationId,
    "inv",
    "invitation"
);
prefixed_id!(
    /// Identifies an approval request or break-glass grant. Prefix `apr`.
    ApprovalId,
    "apr",
    "approval"
);
prefixed_id!(
    /// Identifies an operation run. Prefix `run`.
    RunId,
    "run",
    "operation run"
);
prefixed_id!(
    /// Identifies a job of an operation run. Prefix `job`.
    JobId,
    "job",
    "job"
);

prefixed_id!(
    /// Identifies a webhook subscription. Prefix `whk`.
    WebhookId,
    "whk",
    "webhook"
);
prefixed_id!(
    /// Identifies one recorded delivery attempt of a webhook. Prefix `whd`.
    WebhookDeliveryId,
    "whd",
    "webhook delivery"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_display() {
        let id = WorkspaceId::generate();
        assert_eq!(WorkspaceId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn rejects_malformed_ids() {
        let valid = TenantId::generate().to_string();
        let cases = [
            "",
            "ten_",
            "ten",
            "ws_01HZX3J4Q8W6E5R7T9Y2U4I6O8",
            "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O",
            "ten_01HZX3J4Q8W6E5R7T9Y2U4I6O8X",
            "ten_!!HZX3J4Q8W6E5R7T9Y2U4I6O8",
            "ten-01HZX3J4Q8W6E5R7T9Y2U4I6O8",
            "ten_\u{0}1HZX3J4Q8W6E5R7T9Y2U4I6O",
            "TEN_01HZX3J4Q8W6E5R7T9Y2U4I6O8",
            "ten_81HZX3J4Q8W6E5R7T9Y2U4I6O8",
            // Not canonical: lower case, or a first character above `7`.
            "ten_01hzx3j4q8w6e5r7t9y2v4j6p8",
            "ten_81HZX3J4Q8W6E5R7T9Y2V4J6P8",
            "ten_ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ];
        for case in cases {
            assert!(TenantId::parse(case).is_err(), "{case:?} should be rejected");
        }
        assert!(TenantId::parse(&valid).is_ok());
        assert!(TenantId::parse("ten_7ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_ok());
        assert!(TenantId::parse("ten_01HZX3J4Q8W6E5R7T9Y2V4J6P8").is_ok());
    }
}
