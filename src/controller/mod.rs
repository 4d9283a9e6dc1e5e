//! The SocialConnection controller.
