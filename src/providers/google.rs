//! Google OAuth calls GO1–GO3 (providers.md §3.8), shared by youtube and
//! google-business-profile.
