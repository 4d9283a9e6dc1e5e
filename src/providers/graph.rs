//! The Meta Graph error family (providers.md §2.11), shared by facebook, instagram,
//! instagram-login and threads.
