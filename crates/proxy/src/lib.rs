//! The data plane: gateway routes, snapshot cache, enforcement pipeline and
//! upstream client. Not built yet; see the architecture plan.
