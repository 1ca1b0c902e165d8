//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the
//! files it finds, but on stable Rust cannot tell Cargo to watch the
//! directory for new ones.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
