//! Validated names. Every name is trimmed, 1 to 255 characters long and free
//! of control characters; the constructors are the only way to get one.

/// The longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Why a name was rejected. The field it came from is added by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing left after trimming.
    #[error("must not be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`] characters after trimming.
    #[error("must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Contains a control character such as a newline or NUL.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// Fails a rule particular to this kind of name.
    #[error("{0}")]
    Other(&'static str),
}

fn parse_name(input: &str) -> Result<String, NameError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if trimmed.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(trimmed.to_owned())
}

/// Implements `Display`, `Debug`, `Serialize` and a `Deserialize` that
/// validates through `parse`, for a newtype over `String` with an inherent
/// `parse(&str) -> Result<Self, E: Display>`.
macro_rules! validated_text {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, formatter)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use validated_text;

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident $(, extra = $extra:expr)?) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Trims and validates `input`.
            pub fn parse(input: &str) -> Result<Self, NameError> {
                let name = parse_name(input)?;
                $( let check: fn(&str) -> Result<(), NameError> = $extra; check(&name)?; )?
                Ok(Self(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        validated_text!($name);
    };
}

name_type!(
    /// A tenant's name: unique across the deployment.
    TenantName
);
name_type!(
    /// A workspace's name: unique within its tenant.
    WorkspaceName
);
name_type!(
    /// A name for people to read, such as a tenant's or a user's display name.
    DisplayName
);
name_type!(
    /// An API key's name: unique per tenant and user.
    ApiKeyName
);
name_type!(
    /// A group's name: unique within its tenant.
    GroupName
);
name_type!(
    /// What a webhook subscription is for, for people.
    WebhookDescription
);
name_type!(
    /// A service account's name: unique within its tenant, no white space.
    ServiceAccountName,
    extra = |name| {
        if name.chars().any(char::is_whitespace) {
            Err(NameError::Other("must not contain white space"))
        } else {
            Ok(())
        }
    }
);
name_type!(
    /// Free text naming something on a platform's side of tenantry (an
    /// agent, a repository, a policy, an evidence reference).
    Label
);
name_type!(
    /// A workspace's environment, free text such as `production` or `staging`.
    Environment
);
name_type!(
    /// A user's login name: unique across the deployment, no white space.
    Username,
    extra = |name| {
        if name.chars().any(char::is_whitespace) {
            Err(NameError::Other("must not contain white space"))
        } else {
            Ok(())
        }
    }
);
name_type!(
    /// An e-mail address: a name with one `@` and text on both sides of it.
    Email,
    extra = |name| {
        match name.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !name.chars().any(char::is_whitespace) =>
            {
                Ok(())
            }
            _ => Err(NameError::Other("must be an e-mail address such as ada@example.com")),
        }
    }
);

impl Environment {
    /// The environment a workspace gets when none is named.
    pub fn production() -> Self {
        Self("production".to_owned())
    }
}

impl WorkspaceName {
    /// The root workspace's name when none is configured.
    pub fn default_root() -> Self {
        Self("Root".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_ordinary_names() {
        assert_eq!(WorkspaceName::parse("  Billing ").unwrap().as_str(), "Billing");
        assert_eq!(WorkspaceName::parse(&"é".repeat(255)).unwrap().as_str().chars().count(), 255);
    }

    #[test]
    fn rejects_bad_names() {
        let cases: [(&str, NameError); 5] = [
            ("", NameError::Empty),
            ("   ", NameError::Empty),
            ("a\nb", NameError::ControlCharacter),
            ("a\u{0}b", NameError::ControlCharacter),
            ("a\u{7f}", NameError::ControlCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(WorkspaceName::parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(WorkspaceName::parse(&"x".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn usernames_and_emails_have_their_own_rules() {
        assert!(Username::parse("ada lovelace").is_err());
        assert!(Username::parse("ada").is_ok());
        assert!(ServiceAccountName::parse("deploy bot").is_err());
        assert!(ServiceAccountName::parse("deploy-bot").is_ok());
        assert!(Email::parse("ada@example.com").is_ok());
        for bad in ["ada", "@example.com", "ada@", "a@b@c", "a b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
