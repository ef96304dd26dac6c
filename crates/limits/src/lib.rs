//! Counter stores for rate limits: a Redis implementation for fleets and an
//! in-memory one for single-node use. Not built yet; see the architecture plan.
