//! Match results and leaderboards for tickwire: backends of
//! [`tickwire_net::results::MatchStore`].
